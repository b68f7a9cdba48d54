"""Streamwise's HTTP API (FastAPI).

Predictions from the served champions, the registry's admin routes, drift alerts, the dashboard,
health and metrics.
"""
