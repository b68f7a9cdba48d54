"""Where the core's state is stored.

The only part of ``online_models`` that talks to Redis (and the folder registry of the embedded demo).
"""
