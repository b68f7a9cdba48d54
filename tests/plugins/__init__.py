"""Fixture plugins, registered in tests/conftest.py (``pytest_plugins``)."""
