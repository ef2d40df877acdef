"""The hil command as a user runs it: one line per mistake, clean Ctrl-C, doctor, benchmark, run."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import threading
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from queue import Empty, Queue

import pytest

from hil.mqtt.client import MqttSession
from hil.mqtt.broker import BrokerEndpoint
from hil.services.readiness import ClientIdentity

ROOT = Path(__file__).resolve().parents[2]
HIL = [sys.executable, "-m", "hil.cli.main"]


def hil(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HIL, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_user_mistakes_are_one_line_and_no_traceback(tmp_path):
    cases = [
        (["run", "--target", "nope"], "unknown target 'nope'"),
        (["run", "--checks", str(tmp_path / "missing")], "no conformance checks at"),
        (["run", "--bench", str(tmp_path / "missing.toml")], "bench file not found"),
        (["frobnicate"], "invalid choice"),
        (["benchmark", "startup", "--runs", "0"], "--runs must be at least 1"),
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
    # Which engine the container backend uses, and why.
    assert re.search(r"Docker engine: ", result.stdout)
    if os.geteuid() == 0 and not os.environ.get("DOCKER_HOST") and shutil.which("dockerd", path="/usr/sbin:/usr/bin"):
        assert re.search(r"^ok\s+Docker engine: (uses unix://\S+: .+|no engine answers; hil starts a private dockerd)",
                         result.stdout, re.M)
    assert "everything hil needs is here" in result.stdout


def test_doctor_fails_when_mosquitto_is_missing(tmp_path):
    # A PATH without /usr/sbin and no Debian path fallback: simulate by pointing the lookup away.
    env = dict(os.environ, PATH=str(tmp_path))
    script = (
        "import shutil, sys; import hil.mqtt.broker as b; b.mosquitto_binary = lambda: None;"
        "import hil.cli.doctor as d; d.mosquitto_binary = b.mosquitto_binary;"
        "from hil.cli.main import main; sys.exit(main(['doctor']))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1
    assert re.search(r"^MISSING\s+mosquitto: not installed", result.stdout, re.M)


def test_doctor_fails_when_the_package_data_is_missing(tmp_path):
    # An install without its interface files (the wheel shipped none) must not pass for healthy.
    script = (
        "import sys; from pathlib import Path; import hil.package_data as p;"
        f"p.interfaces_dir = lambda: Path({str(tmp_path)!r});"
        "from hil.cli.main import main; sys.exit(main(['doctor']))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert re.search(r"^MISSING\s+hil's package data: 0 interface files.*no interface files", result.stdout, re.M)


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
    result = hil("benchmark", "startup", "--runs", "2", "--output", str(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    saved = list(tmp_path.glob("startup-*.json"))
    assert len(saved) == 1
    data = json.loads(saved[0].read_text())
    assert data["runs"] == 2 and len(data["hil"]["samples_ms"]) == 2 and len(data["floor"]["samples_ms"]) == 2
    assert data["ratio_median"] == pytest.approx(data["hil"]["median_ms"] / data["floor"]["median_ms"], rel=1e-2)
    assert data["versions"]["mosquitto"].startswith("2.")
    assert set(data["machine"]) >= {"cpu", "cores", "kernel", "python"}


def test_run_writes_the_record_against_the_simulated_target(tmp_path):
    result = hil("run", "--reports", str(tmp_path), "-k", "broker_accepts or registration_lifecycle", timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.name != "latest"]
    assert run_dir.name.endswith("-run") and (tmp_path / "latest").resolve() == run_dir.resolve()
    data = json.loads((tmp_path / "latest" / "run-record.json").read_text())
    assert data["target"] == {"name": "sim", "kind": "simulated", "description": data["target"]["description"]}
    assert data["command"] == "run"
    assert data["checks"] and all(check["outcome"] == "passed" for check in data["checks"])
    kinds = {check["name"]: check["kind"] for check in data["checks"]}
    assert kinds["test_registration_lifecycle"] == "simulator"  # the fidelity section has results
    assert {kind for name, kind in kinds.items() if "broker_accepts" in name} == {"sdk"}
    assert (tmp_path / "latest" / "junit.xml").exists() and (tmp_path / "latest" / "report.html").exists()


def test_a_command_run_in_process_leaves_the_callers_services_alone(tmp_path, capsys):
    """The audit after a command judges what the command started, not its caller's session."""
    from hil.cli.main import main
    from hil.services import HttpStatus, ProcessBackend, ServiceSpec

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


def test_hil_run_with_a_directory_as_bench_file_is_one_line(tmp_path):
    result = hil("run", "--bench", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"hil: error: {tmp_path}: is a directory, not a bench file\n"


# -- hil benchmark: --output and the floor -----------------------------------------------------------
def _must_not_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("the benchmark ran before --output was checked")


@pytest.mark.parametrize("name", ["startup", "grpc", "fuzz"])
@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_bench_refuses_an_unusable_output_before_measuring(tmp_path, monkeypatch, capsys, name, where):
    from hil.benchmarks import grpc as grpc_bench
    from hil.benchmarks import startup
    from hil.cli import benchmark as bench_cli
    from hil.cli.main import main

    monkeypatch.setattr(startup, "measure", _must_not_run)
    monkeypatch.setattr(grpc_bench, "measure", _must_not_run)
    monkeypatch.setitem(sys.modules, "hil_test_fuzz_benchmark", types.SimpleNamespace(measure=_must_not_run))
    monkeypatch.setattr(bench_cli, "FUZZ_BENCHMARK_MODULE", "hil_test_fuzz_benchmark")
    existing = tmp_path / "results"
    existing.write_text("")
    output = existing if where == "a file" else existing / "sub"
    assert main(["benchmark", name, "--output", str(output)]) == 2
    expected = (f"{output} exists and is not a directory" if where == "a file"
                else f"cannot write results: {output}: Not a directory")
    assert capsys.readouterr().err == f"hil: error: --output: {expected}\n"


def test_bench_results_that_cannot_be_written_at_the_end_are_one_line(tmp_path, monkeypatch, capsys):
    from hil.benchmarks import startup
    from hil.cli.main import main

    blocker = tmp_path / "startup-20240102T030405Z.json"

    def measure(runs: int) -> dict[str, object]:
        blocker.mkdir()  # the output was fine when checked; now the results file cannot be written
        return {"benchmark": "startup", "timestamp": "2024-01-02T03:04:05+00:00"}

    monkeypatch.setattr(startup, "measure", measure)
    assert main(["benchmark", "startup", "--runs", "1", "--output", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"hil: error: cannot save the startup results: {blocker}: Is a directory\n"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_floor_mosquitto_that_exits_or_never_answers_is_a_hil_error(tmp_path):
    from hil.benchmarks.floor_mosquitto import start_floor
    from hil.errors import ServiceExited, StartupTimeout

    false = shutil.which("false")
    probes = [(_closed_port(), ssl.create_default_context())]
    with pytest.raises(ServiceExited) as exited:
        start_floor(false, "", tmp_path / "mosquitto.conf", probes)
    assert str(exited.value) == f"service 'floor-mosquitto': {false} exited with status 1 before it was ready"
    hanging = tmp_path / "hanging-mosquitto"
    hanging.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'pid'}\nexec sleep 60\n")
    hanging.chmod(0o755)
    with pytest.raises(StartupTimeout, match=r"^service 'floor-mosquitto': .* not ready within 0\.5 s$"):
        start_floor(str(hanging), "", tmp_path / "mosquitto.conf", probes, timeout=0.5)
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left as a zombie
        os.kill(int((tmp_path / "pid").read_text()), 0)


def test_bench_startup_reports_a_failing_floor_in_one_line(tmp_path, monkeypatch, capsys):
    from hil.benchmarks import startup
    from hil.cli.main import main

    false = shutil.which("false")
    monkeypatch.setattr(startup, "mosquitto_binary", lambda: false)  # the floor only; hil's broker is real
    assert main(["benchmark", "startup", "--runs", "1", "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == f"hil: error: service 'floor-mosquitto': {false} exited with status 1 before it was ready\n"


# -- simulators' command lines -------------------------------------------------------------------
def simulator(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", f"hil.simulators.{name}", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env)


def test_the_message_hub_log_level_is_checked_in_one_line(tmp_path):
    done = simulator("message_hub", "--port", "0", "--store-dir", str(tmp_path), "--discard", "--log-level", "foo")
    assert done.returncode == 2
    assert done.stderr == ("python -m hil.simulators.message_hub: error: argument --log-level: invalid choice: 'FOO' "
                           "(choose from 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')\n")


@pytest.mark.parametrize("name", ["message_hub", "astarte", "destiny", "locknalert"])
def test_simulator_ports_out_of_range_are_usage_errors(tmp_path, name):
    args = {
        "message_hub": ["--store-dir", str(tmp_path), "--discard"],
        "astarte": ["--pki-dir", str(tmp_path), "--realm", "r", "--realm-public-key", str(tmp_path / "k"),
                    "--broker-url", "mqtts://h:1/", "--broker-admin-port", "1", "--admin-cert", "c",
                    "--admin-key", "k", "--device-broker-port", "1"],
        "destiny": [],
        "locknalert": ["--broker-port", "1"],
    }[name]
    done = simulator(name, "--port", "99999", *args)
    assert done.returncode == 2, done.stderr
    # One line, like every user mistake: no argparse usage dump in front of it.
    assert done.stderr == f"python -m hil.simulators.{name}: error: --port 99999 is not a port number\n"


def _astarte_args(tmp_path: Path, *, realm_key: Path | None, broker_port: int) -> list[str]:
    """An astarte simulator command line up to its broker connection; ``realm_key`` None: a real key."""
    from hil.pki import HarnessPKI

    pki = HarnessPKI(tmp_path / "pki")
    admin = pki.issue_client("admin")
    key = realm_key or pki.realm_keypair("r").public_key_path
    return ["--port", "0", "--pki-dir", str(tmp_path / "pki"), "--realm", "r", "--realm-public-key", str(key),
            "--broker-url", "mqtts://h:1/", "--broker-admin-port", str(broker_port), "--admin-cert",
            str(admin.cert_path), "--admin-key", str(admin.key_path), "--device-broker-port", "1"]


def _destiny_storage_args(tmp_path: Path, storage_port: int) -> list[str]:
    from hil.pki import HarnessPKI

    pki = HarnessPKI(tmp_path / "pki")
    pair = pki.issue_server("destiny-storage")
    return ["--port", "0", "--storage-port", str(storage_port), "--storage-tls-cert", str(pair.cert_path),
            "--storage-tls-key", str(pair.key_path)]


# id -> (tmp_path, a port something listens on, a closed port) -> (simulator argv, its last stderr line)
NAMED_FAILURES = {
    "destiny-storage-port-taken": lambda tmp, taken, closed: (
        ["destiny", *_destiny_storage_args(tmp, taken)],
        f"destiny simulator: cannot listen on 127.0.0.1:{taken} (--storage-port): Address already in use"),
    "destiny-port-taken": lambda tmp, taken, closed: (
        ["destiny", "--port", str(taken)], f"destiny simulator: cannot listen on 127.0.0.1:{taken}: Address already in use"),
    "destiny-tls-file-missing": lambda tmp, taken, closed: (
        ["destiny", "--port", "0", "--tls-cert", str(tmp / "no.pem"), "--tls-key", str(tmp / "no.pem")],
        f"destiny simulator: --tls-cert: {tmp / 'no.pem'}: No such file or directory"),
    "message-hub-control-port-taken": lambda tmp, taken, closed: (
        ["message_hub", "--port", "0", "--control-port", str(taken), "--store-dir", str(tmp / "hub"), "--discard"],
        f"message hub: control API cannot listen on 127.0.0.1:{taken}: Address already in use"),
    "astarte-realm-key-missing": lambda tmp, taken, closed: (
        ["astarte", *_astarte_args(tmp, realm_key=tmp / "no.pem", broker_port=closed)],
        f"astarte simulator: {tmp / 'no.pem'}: No such file or directory"),
    "astarte-broker-refused": lambda tmp, taken, closed: (
        ["astarte", *_astarte_args(tmp, realm_key=None, broker_port=closed)],
        f"astarte simulator: cannot reach the broker at 127.0.0.1:{closed}: Connection refused"),
}


@pytest.mark.parametrize("case", NAMED_FAILURES)
def test_simulator_files_and_addresses_that_fail_are_named(tmp_path, case):
    """An OSError is reported with what failed (the file, host:port), not only its strerror."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        argv, expected = NAMED_FAILURES[case](tmp_path, taken.getsockname()[1], _closed_port())
        done = simulator(*argv)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == expected


def test_the_simulators_share_one_port_check_and_one_way_to_name_an_os_error():
    """One helper each (hil.cli.arguments, hil.errors), used by every simulator's command line."""
    import argparse

    from hil.cli.arguments import check_port_options
    from hil.errors import named_os_error

    parser = argparse.ArgumentParser(prog="sim")
    parser.error = lambda message: (_ for _ in ()).throw(ValueError(message))  # type: ignore[method-assign]
    check_port_options(parser, argparse.Namespace(port=0, tls_port=None, control_port=65535), "port", "tls_port",
                       "control_port")
    with pytest.raises(ValueError, match=r"^--control-port 65536 is not a port number$"):
        check_port_options(parser, argparse.Namespace(port=1, control_port=65536), "port", "control_port")
    named = named_os_error(ConnectionRefusedError(111, "Connection refused"), "cannot reach the broker at h:1")
    assert (named.errno, named.strerror) == (111, "cannot reach the broker at h:1: Connection refused")
    for name in ("astarte", "destiny", "locknalert", "message_hub"):
        source = (ROOT / "simulators" / name / "__main__.py").read_text()
        assert "def _named(" not in source and "<= 65535" not in source, f"{name} keeps its own copy"


def _hub_identity(tmp_path: Path, *extra: str) -> list[str]:
    return ["--port", "0", "--store-dir", str(tmp_path / "hub"), "--realm", "hil", "--device-id", "hubDevice", *extra]


def test_message_hub_tls_files_that_fail_are_named(tmp_path):
    """ssl names no file: the hub loads the CA, certificate and key up front and names them."""
    from hil.pki import HarnessPKI

    pki = HarnessPKI(tmp_path / "pki")
    client = pki.issue_client("hil/hubDevice")
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n")
    broker = ["--broker-url", "mqtts://127.0.0.1:1/"]
    cases = [
        (_hub_identity(tmp_path, *broker, "--cert", str(not_pem), "--key", str(client.key_path), "--ca-file",
                       str(pki.ca_cert_path)),
         f"message hub: --cert {not_pem} with --key {client.key_path}: "),
        (_hub_identity(tmp_path, *broker, "--cert", str(client.cert_path), "--key", str(pki.directory / "ca.key"),
                       "--ca-file", str(pki.ca_cert_path)),
         f"message hub: --cert {client.cert_path} with --key {pki.directory / 'ca.key'}: "),
        (_hub_identity(tmp_path, "--pairing-url", "https://127.0.0.1:1/", "--credentials-secret", "s", "--ca-file",
                       str(not_pem)),
         f"message hub: --ca-file {not_pem}: "),
    ]
    for argv, prefix in cases:
        done = simulator("message_hub", *argv)
        assert done.returncode == 1, done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith(prefix), (prefix, done.stderr)
        assert "control API" not in done.stderr


def test_a_hub_store_that_is_not_a_database_is_one_line(tmp_path):
    store = tmp_path / "hub"
    store.mkdir()
    (store / "properties.sqlite").write_text("not a database, but long enough to be read as one\n" * 4)
    done = simulator("message_hub", "--port", "0", "--store-dir", str(store), "--discard")
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"message hub: {store / 'properties.sqlite'}: cannot use it as the hub's property store: "
                           "file is not a database\n")


def test_a_taken_grpc_port_is_one_line(tmp_path):
    """gRPC's C core would print its own line about the port ahead of the hub's."""
    env = {key: value for key, value in os.environ.items() if key != "GRPC_VERBOSITY"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = simulator("message_hub", "--port", str(port), "--store-dir", str(tmp_path), "--discard", env=env)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("message hub: Address already in use") and f"127.0.0.1:{port}" in done.stderr


def test_bench_grpc_says_when_the_sdk_alone_cannot_reach_the_goal(tmp_path, monkeypatch, capsys):
    from hil.benchmarks import grpc as grpc_bench
    from hil.cli.main import main

    def measure(rounds: int, messages: int) -> dict[str, object]:
        return {"benchmark": "grpc", "timestamp": "2024-01-02T03:04:05+00:00",
                "realm_path": {"median_msgs_per_s": 850.0}, "floor": {"median_msgs_per_s": 1700.0},
                "sdk_ceiling": {"median_msgs_per_s": 1150.0, "ratio_to_floor": 0.676, "realm_path_ratio": 0.739},
                "ratio_median": 0.5, "goal_ratio": 0.8, "meets_goal": False}

    monkeypatch.setattr(grpc_bench, "measure", measure)
    assert main(["benchmark", "grpc", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "ratio 0.50 (MISSES the goal of >= 0.8); the realm path keeps 0.74 of the SDK ceiling" in out
    assert "DeviceGrpc alone reaches 0.68 of the floor, so no hub can meet the goal with this SDK" in out
