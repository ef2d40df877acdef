"""hil's container reaper: removes a session's containers when the session's process dies.

It plays the role of testcontainers' Ryuk (whose image cannot be pulled here) without a
container: a small process started by the session, reading a pipe whose write end only the
session holds. End of file means the session is gone, whether it ended normally or was killed
(SIGKILL included, the kernel closes the pipe); the reaper then removes every container labelled
``hil.session=<id>`` and, if no other session uses it, stops hil's private engine.

If the reaper itself was killed too, the next session sweeps: every container also carries
``hil.owner=<pid>:<start time>`` of the process that started it, and a session's first use of
the engine removes the containers whose owner no longer runs (:func:`remove_orphans`).

Run as ``python -m hil.services.reaper SESSION_ID ENGINE_URL``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["OWNER_LABEL", "SESSION_LABEL", "owner", "remove_orphans", "remove_session_containers"]

SESSION_LABEL = "hil.session"
OWNER_LABEL = "hil.owner"


def owner(pid: int | None = None) -> str:
    """``<pid>:<start time>`` of a process: unlike a pid alone, never names a later process."""
    pid = os.getpid() if pid is None else pid
    try:
        start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return f"{pid}:gone"
    return f"{pid}:{start}"


def remove_orphans(client: Any) -> list[str]:
    """Remove hil's containers whose owning process is gone (its reaper was killed with it)."""
    removed = []
    for container in client.containers.list(all=True, filters={"label": OWNER_LABEL}):
        token = container.labels.get(OWNER_LABEL, "")
        pid = token.split(":", 1)[0]
        if pid.isdigit() and owner(int(pid)) == token:
            continue
        try:
            container.remove(force=True)
        except Exception:  # gone in the meantime  # noqa: BLE001
            continue
        removed.append(container.name)
    return removed


def remove_session_containers(client: Any, session_id: str) -> list[str]:
    """Remove (forcibly) the containers of ``session_id``; returns their names."""
    removed = []
    for container in client.containers.list(all=True, filters={"label": f"{SESSION_LABEL}={session_id}"}):
        try:
            container.remove(force=True)
        except Exception:  # gone in the meantime: what we wanted  # noqa: BLE001
            continue
        removed.append(f"container {container.name} ({container.labels.get('hil.service', '?')})")
    return removed


def main(argv: list[str]) -> int:
    session_id, url = argv
    sys.stdin.buffer.read()  # returns at EOF: the session closed the pipe, or died
    import docker

    from hil.services.engine import stop_private_engine_if_unused

    try:
        client = docker.DockerClient(base_url=url, timeout=30, version="auto")
        remove_session_containers(client, session_id)
        client.close()
    except Exception:  # the engine is gone already: nothing of ours can run in it  # noqa: BLE001
        pass
    stop_private_engine_if_unused()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
