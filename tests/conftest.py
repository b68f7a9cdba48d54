"""The suite's configuration: its fixtures come from plugins (tests/plugins/), its helpers from
tests/support/; nothing is imported from a conftest."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

pytest_plugins = ("tests.plugins.services", "tests.plugins.streams", "tests.plugins.api")

# These machines are shared: a busy core must not fail a property test for its speed (Hypothesis'
# 200 ms deadline per example and its too_slow health check measure the machine, not the code).
settings.register_profile("shared", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared")
