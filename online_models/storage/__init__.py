"""Where the core's state is stored: the only part of ``online_models`` that talks to Redis (and
the folder registry of the embedded demo)."""
