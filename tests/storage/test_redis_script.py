"""infra/redis.sh, the Redis of `make up` and `make test`, persists: a stop and a start keep every key
(the registry and the checkpoints), as docker-compose.yml's Redis does."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from streams.testing import ROOT, free_port

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server (Debian package) is needed"),
]
SCRIPT = str(ROOT / "infra" / "redis.sh")


def test_a_stop_and_a_start_keep_the_keys(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "STREAMWISE_RUN_DIR": str(tmp_path), "STREAMWISE_REDIS_PORT": str(port)}
    subprocess.run([SCRIPT, "start"], env=env, check=True, capture_output=True)
    try:
        redis.Redis(port=port).set("registry:lr:champion", b"v7")
        subprocess.run([SCRIPT, "stop"], env=env, check=True, capture_output=True)
        subprocess.run([SCRIPT, "start"], env=env, check=True, capture_output=True)
        assert redis.Redis(port=port).get("registry:lr:champion") == b"v7"
    finally:
        subprocess.run([SCRIPT, "stop"], env=env, capture_output=True)
