"""hil's private Docker engine: started when none answers, no network side effects, stopped by
the last session that used it, left alone while another session uses it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from hil.services.engine import _dockerd

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or _dockerd() is None,
                                reason="a private dockerd needs root and Debian's docker.io")

# Run in a child with a cache directory of its own, so that this engine is not the one other
# sessions on this machine share (and its pid file says exactly which daemon is ours).
CHILD = textwrap.dedent("""
    import json, os
    from pathlib import Path
    from hil.services.engine import engine_choice, lease_engine, private_engine_pid
    before = engine_choice()[1]
    first = lease_engine()
    pid = private_engine_pid()
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\\0")
    second = lease_engine()              # a second session shares it
    first.release()
    still = private_engine_pid()         # still used by the second
    second.release()
    print(json.dumps({"before": before, "origin": first.engine.origin, "pid": pid,
                      "argv": [a.decode() for a in argv], "docker0": Path("/sys/class/net/docker0").exists(),
                      "after_first": still, "after_last": private_engine_pid(),
                      "mounts": [line for line in Path("/proc/mounts").read_text().splitlines()
                                 if os.environ["XDG_CACHE_HOME"] in line]}))
""")


def test_a_private_engine_starts_without_network_side_effects_and_the_last_user_stops_it():
    # A short path: the engine's sockets live under it, and a unix socket path has 108 bytes.
    cache = Path(tempfile.mkdtemp(prefix="hil-eng-", dir="/tmp"))
    try:
        env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"} | {"XDG_CACHE_HOME": str(cache)}
        if Path("/var/run/docker.sock").exists():
            pytest.skip("a system engine answers here: hil would use it, not start its own")
        done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        import json

        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert "hil starts a private dockerd" in seen["before"]
        assert seen["origin"] == "private" and seen["pid"]
        assert "--bridge=none" in seen["argv"] and "--iptables=false" in seen["argv"]
        assert any(a.startswith(f"--data-root={cache}") for a in seen["argv"])
        assert seen["docker0"] is False
        assert seen["after_first"] == seen["pid"], "the engine stopped while a session still used it"
        assert seen["after_last"] is None, "the last session out did not stop the engine"
        assert not Path(f"/proc/{seen['pid']}").exists()
        assert seen["mounts"] == [], "the stopped engine left mounts behind"
    finally:
        shutil.rmtree(cache, ignore_errors=True)
