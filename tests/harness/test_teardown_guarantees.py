"""Nothing hil starts outlives it: SIGKILL of the owner, the leak audit, the session-end audit."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hil.errors import HarnessLeak
from hil.services import HttpStatus, ProcessBackend, ServiceSpec, current_tracker

PY = sys.executable


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait on a pidfd (an event, not a poll loop): True once ``pid`` has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def test_sigkill_of_the_owner_leaves_no_mosquitto(tmp_path):
    """A child Python starts the simulated stack, prints mosquitto's pid, and is SIGKILLed."""
    script = textwrap.dedent(
        """
        import sys
        from hil.targets import SimulatedTarget
        target = SimulatedTarget()
        broker = target.broker()
        print(broker.service.pid, target.run_dir.path, flush=True)
        sys.stdin.read()   # hold the stack until killed
        """
    )
    child = subprocess.Popen([PY, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line, "the child did not start the stack"
        pid_text, run_dir = line.split()
        mosquitto_pid = int(pid_text)
        assert Path(f"/proc/{mosquitto_pid}/cmdline").read_bytes().find(b"mosquitto") >= 0
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert wait_for_exit(mosquitto_pid, 10), f"mosquitto {mosquitto_pid} survived the SIGKILL of its owner"
    finally:
        child.kill()
        child.wait()
        child.stdin.close()
        child.stdout.close()
    # The run dir of a SIGKILLed process cannot be removed by it; it is a temp dir the OS cleans.
    # Remove it here so this test itself leaves nothing behind.
    subprocess.run(["rm", "-rf", run_dir], check=True)


def test_leak_audit_names_a_leaked_process(tmp_path):
    backend = ProcessBackend(tmp_path)
    spec = ServiceSpec(
        "leaky",
        command=lambda ports, wd: [PY, "-m", "http.server", str(ports["http"]), "--bind", "127.0.0.1"],
        ports=("http",),
    )
    service = backend.create(spec)
    service.start(HttpStatus(port="http"))
    try:
        with pytest.raises(HarnessLeak) as info:
            current_tracker().audit(clean_up=False)
        message = str(info.value)
        assert f"process {service.pid}" in message and "http.server" in message
        assert f"listening port 127.0.0.1:{service.port('http')}" in message
    finally:
        service.stop()
    leaks = current_tracker().find_leaks()
    assert service.pid not in [pid for pid, _ in leaks.processes]


def test_leak_audit_names_a_leaked_temp_dir():
    from hil.rundir import RunDirectory

    run_dir = RunDirectory()
    try:
        assert run_dir.path in current_tracker().find_leaks().temp_dirs
    finally:
        run_dir.remove()
    assert run_dir.path not in current_tracker().find_leaks().temp_dirs


def test_a_pytest_session_that_leaks_fails_with_the_leak_named(pytester):
    pytester.makepyfile(
        test_leaks=textwrap.dedent(
            """
            import sys
            from hil.services import ProcessBackend, ServiceSpec, LogLine

            def test_forgets_to_stop(tmp_path):
                backend = ProcessBackend(tmp_path)
                spec = ServiceSpec("forgotten", command=lambda p, wd: [sys.executable, "-u", "-c",
                                   "print('up'); import threading; threading.Event().wait()"])
                backend.create(spec).start(LogLine("up"))
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--hil-report-dir={pytester.path / 'r'}")
    result.stdout.fnmatch_lines(["*hil: leak audit failed: leaked after teardown: process *forgotten*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
