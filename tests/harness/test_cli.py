"""The hil command as a user runs it: one line per mistake, clean Ctrl-C, doctor, bench, run."""

from __future__ import annotations

import json
import os
import re
import threading
import signal
import subprocess
import sys
import time
from pathlib import Path
from queue import Empty, Queue

import pytest

from harness.mqtt_client import MqttSession
from harness.broker import BrokerEndpoint
from harness.services.readiness import ClientIdentity

ROOT = Path(__file__).resolve().parents[2]
HIL = [sys.executable, "-m", "harness.cli.main"]


def hil(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HIL, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_user_mistakes_are_one_line_and_no_traceback(tmp_path):
    cases = [
        (["run", "--target", "nope"], "unknown target 'nope'"),
        (["run", "--checks", str(tmp_path / "missing")], "no conformance checks at"),
        (["run", "--bench", str(tmp_path / "missing.toml")], "bench file not found"),
        (["frobnicate"], "invalid choice"),
        (["bench", "startup", "--runs", "0"], "--runs must be at least 1"),
    ]
    for argv, message in cases:
        result = hil(*argv)
        assert result.returncode == 2, (argv, result.stderr)
        assert message in result.stderr, (argv, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_bench_file_mistakes_name_the_file_and_key(tmp_path):
    bench = tmp_path / "bench.toml"
    bench.write_text('[targets.lab]\nkind = "physical"\n[targets.lab.broker]\nhots = "x"\n')
    result = hil("run", "--bench", str(bench), "--target", "lab")
    assert result.returncode == 2
    assert f"{bench}: targets.lab.broker: unknown key 'hots' (did you mean 'host'?)" in result.stderr


def test_doctor_reports_in_plain_words():
    result = hil("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^ok\s+mosquitto: 2\.\S+ at /", result.stdout, re.M)
    assert re.search(r"^ok\s+Python 3\.12", result.stdout, re.M)
    assert re.search(r"Docker engine", result.stdout)
    assert "everything hil needs is here" in result.stdout


def test_doctor_fails_when_mosquitto_is_missing(tmp_path):
    # A PATH without /usr/sbin and no Debian path fallback: simulate by pointing the lookup away.
    env = dict(os.environ, PATH=str(tmp_path))
    script = (
        "import shutil, sys; import harness.broker as b; b.mosquitto_binary = lambda: None;"
        "import harness.cli.doctor as d; d.mosquitto_binary = b.mosquitto_binary;"
        "from harness.cli.main import main; sys.exit(main(['doctor']))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert re.search(r"^MISSING\s+mosquitto: not installed", result.stdout, re.M)


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """Lines of ``proc.stdout`` up to one containing ``marker``, read by a thread into a queue."""
    lines: list[str] = []
    queue: Queue[str | None] = Queue()

    def pump() -> None:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                queue.put(line)
        except ValueError:  # stdout closed by the test's teardown: the end of output
            pass
        queue.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except Empty:
            raise AssertionError(f"no {marker!r} within {timeout}s; got {lines}") from None
        if line is None:
            raise AssertionError(f"output ended before {marker!r}: {lines}")
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines


def test_up_serves_the_stack_and_ctrl_c_leaves_nothing_behind():
    proc = subprocess.Popen([*HIL, "up"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        lines = read_until(proc, "hil up: ready", 60)
        info = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in lines if re.search(r"\S\s{2,}\S", line))
        ca = Path(info["CA certificate"])
        admin_url = info["MQTT broker back office (mutual TLS, CN admin)"]
        port = int(re.search(r":(\d+)/$", admin_url).group(1))
        admin = ClientIdentity(Path(info["broker admin certificate (CN admin)"]), Path(info["broker admin key"]), ca, "admin")
        with MqttSession(BrokerEndpoint("127.0.0.1", port, ca), admin) as session:
            assert session.connect().accepted, "the printed credentials do not work"
        run_dir = ca.parent.parent
        assert run_dir.exists()
        proc.send_signal(signal.SIGINT)
        proc.wait(30)  # stdout stays with the reading thread: one reader per pipe
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
        proc.stdout.close()
    assert proc.returncode == 0, err
    assert "leak audit failed" not in err
    assert not run_dir.exists(), "hil up left its run directory behind"
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_bench_startup_saves_figures(tmp_path):
    result = hil("bench", "startup", "--runs", "2", "--output", str(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    saved = list(tmp_path.glob("startup-*.json"))
    assert len(saved) == 1
    data = json.loads(saved[0].read_text())
    assert data["runs"] == 2 and len(data["hil"]["samples_ms"]) == 2 and len(data["floor"]["samples_ms"]) == 2
    assert data["ratio_median"] == pytest.approx(data["hil"]["median_ms"] / data["floor"]["median_ms"], rel=1e-2)
    assert data["versions"]["mosquitto"].startswith("2.")
    assert set(data["machine"]) >= {"cpu", "cores", "kernel", "python"}


def test_run_writes_the_record_against_the_simulated_target(tmp_path):
    result = hil("run", "--reports", str(tmp_path), "-k", "broker_accepts", timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    data = json.loads((tmp_path / "run-record.json").read_text())
    assert data["target"] == {"name": "sim", "kind": "simulated", "description": data["target"]["description"]}
    assert data["checks"] and all(check["outcome"] == "passed" for check in data["checks"])
    assert (tmp_path / "junit.xml").exists()


def test_a_command_run_in_process_leaves_the_callers_services_alone(tmp_path, capsys):
    """The audit after a command judges what the command started, not its caller's session."""
    from harness.cli.main import main
    from harness.services import HttpStatus, ProcessBackend, ServiceSpec

    spec = ServiceSpec("callers", command=lambda p, wd: [sys.executable, "-m", "http.server", str(p["http"]),
                                                          "--bind", "127.0.0.1"], ports=("http",))
    service = ProcessBackend(tmp_path).create(spec)
    service.start(HttpStatus(port="http"))
    try:
        assert main(["doctor"]) == 0
        assert "leak audit failed" not in capsys.readouterr().err
        assert service.exited() is None, "an in-process hil command killed its caller's service"
    finally:
        service.stop()
