"""Bench files: physical targets and what they can do, mistakes named by file and key."""

from __future__ import annotations

import pytest

from hil.errors import ConfigError, MissingCapability
from hil.targets import load_bench, PhysicalTarget, resolve_target
from hil.targets.protocols import AppEngine, LocknAlertBridgeAccess, MqttBroker, RealmMessageLog


def test_a_physical_target_offers_what_its_bench_file_describes(tmp_path):
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    bench = tmp_path / "bench.toml"
    bench.write_text(
        '[targets.lab]\nkind = "physical"\ndescription = "rack 3"\n'
        '[targets.lab.broker]\nhost = "broker.lab"\nport = 8883\nca_file = "ca.pem"\n'
        '[targets.lab.locknalert]\nhost = "192.0.2.10"\nserial = "LNA-1"\nmqtt_ca_file = "ca.pem"\n'
    )
    target = resolve_target("lab", bench)
    assert isinstance(target, PhysicalTarget)
    assert target.offered() == [MqttBroker, LocknAlertBridgeAccess]
    assert target.get(MqttBroker).endpoint.url == "mqtts://broker.lab:8883/"
    with pytest.raises(MissingCapability, match=r"target 'lab': lacks Astarte AppEngine API \(AppEngine\)"):
        target.get(AppEngine)
    with pytest.raises(MissingCapability, match=r"RealmMessageLog"):
        target.get(RealmMessageLog)
    bridge = target.get(LocknAlertBridgeAccess).bridge()
    assert (bridge.host, bridge.port, bridge.serial) == ("192.0.2.10", 443, "LNA-1")
    assert type(bridge.control).__name__ == "OperatorBridgeControl"
    assert resolve_target("sim", bench).kind == "simulated"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[targets.x]\nkind = "robot"\n', "targets.x.kind: expected 'simulated' or 'physical'"),
        ('[targets.x]\nkind = "physical"\n[targets.x.astarte]\nrealmm = "r"\n', "targets.x.astarte: unknown key 'realmm' (did you mean 'realm'?)"),
        ('[targets.x]\nkind = "physical"\n[targets.x.astarte]\nrealm = "r"\nbase_url = "https://a"\njwt = "eyJhbGciOi"\n',
         "targets.x.astarte.jwt: expected a secret reference (env:NAME or file:PATH), never the secret itself, "
         "got a literal value (not shown)"),
        ('[targets.x]\nkind = "physical"\n[targets.x.astarte]\nrealm = "r"\njwt = "env:HIL_X"\n', "targets.x.astarte: missing 'base_url'"),
        ('[targets.x]\nkind = "physical"\n[targets.x.astarte]\nrealm = "r"\nbase_url = "https://a"\n',
         "targets.x.astarte: missing 'jwt' or 'realm_private_key'"),
        ('[targets.x]\nkind = "physical"\n[targets.x.astarte]\nrealm = "${HOME}"\n',
         "targets.x.astarte.realm: ${HOME}: only ${HIL_*} variables are substituted"),
        ('[targets.x]\nkind = "physical"\n[targets.x.astarte]\nrealm = "${HIL_SURELY_UNSET}"\n',
         "targets.x.astarte.realm: ${HIL_SURELY_UNSET} is not set in the environment"),
        ('[targets.x]\nkind = "physical"\n[targets.x.destiny]\nbase_url = "http://d"\nrobot_id = "nope"\nrobot_secret = "env:X"\n',
         "targets.x.destiny.robot_id: expected a UUID, got 'nope'"),
        ('[targets.x]\nkind = "physical"\n[targets.x.destiny]\nbase_url = "http://d"\n'
         'robot_id = "7d2c1e0a-3f4b-4c5d-8e9f-0a1b2c3d4e5f"\nrobot_secret = "env:HIL_SURELY_UNSET"\n',
         "targets.x.destiny.robot_secret: environment variable HIL_SURELY_UNSET is not set"),
        ('[targets.x]\nkind = "physical"\n[targets.x.locknalert]\nhost = "h"\nserial = "s"\ncontrol = "commands"\n',
         "targets.x.locknalert: control = 'commands' needs a [commands] table"),
        ('[targets.x]\nkind = "physical"\n[targets.x.locknalert]\nhost = "h"\nserial = "s"\n'
         '[targets.x.locknalert.commands]\nopen_windw = "x"\n',
         "targets.x.locknalert.commands: unknown key 'open_windw' (did you mean 'open_window'?)"),
        ('[targets.x]\nkind = "physical"\nbrokr = 1\n', "unknown key 'brokr' (did you mean 'broker'?)"),
        ('[targets.x]\nkind = "physical"\n[targets.x.locknalert]\nhost = "h"\n', "targets.x.locknalert: missing 'serial'"),
        ('[targets.x]\nkind = "physical"\n[targets.x.broker]\nhost = "h"\nport = 1\nca_file = "no.pem"\n',
         "targets.x.broker.ca_file: file not found"),
        ("[targets\n", "not valid TOML"),
    ],
)
def test_bench_file_mistakes_are_one_line_naming_the_file(tmp_path, text, message):
    bench = tmp_path / "bench.toml"
    bench.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_bench(bench)
    assert message in str(info.value) and str(bench) in str(info.value)
    assert "eyJhbGciOi" not in str(info.value), "a literal secret was echoed"
    assert "\n" not in str(info.value)


BROKER = '[targets.x]\nkind = "physical"\n[targets.x.broker]\nport = 8883\nca_file = "ca.pem"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets = 3\n", "targets: expected a table, got an integer"),
        ('[targets.x]\nkind = "physical"\nbroker = 5\n', "targets.x.broker: expected a table, got an integer"),
        ('[targets.x]\nkind = "physical"\ndevice = "d"\n', "targets.x.device: expected a table, got a string"),
        ('[targets.x]\nkind = "physical"\nlocknalert = [1]\n', "targets.x.locknalert: expected a table, got an array"),
        (BROKER.replace("port = 8883", "port = true") + 'host = "h"\n',
         "targets.x.broker.port: expected a port number (1-65535), got a boolean"),
        ('[targets.x]\nkind = "physical"\n[targets.x.locknalert]\nhost = "h"\nserial = "s"\nport = true\n',
         "targets.x.locknalert.port: expected a port number (1-65535), got a boolean"),
        (BROKER + "host = 5\n", "targets.x.broker.host: expected a non-empty string, got 5"),
        (BROKER + 'host = "h"\nserver_hostname = 1979-05-27\n',
         "targets.x.broker.server_hostname: expected a non-empty string, got a date/time"),
        ('[targets.x]\nkind = "physical"\n[targets.x.locknalert]\nhost = 10\nserial = "s"\n',
         "targets.x.locknalert.host: expected a non-empty string, got 10"),
    ],
    ids=["targets-int", "broker-int", "device-str", "locknalert-array", "broker-port-bool", "locknalert-port-bool",
         "broker-host-int", "server-hostname-date", "locknalert-host-int"],
)
def test_bench_file_values_of_the_wrong_type_are_one_line_naming_file_and_key(tmp_path, text, message):
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    bench = tmp_path / "bench.toml"
    bench.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_bench(bench)
    assert str(info.value) == f"{bench}: {message}"


def test_a_bench_file_that_is_not_utf8_is_one_line(tmp_path):
    bench = tmp_path / "bench.toml"
    bench.write_bytes(b'[targets.x]\nkind = "physical"\ndescription = "caf\xe9"\n')
    with pytest.raises(ConfigError) as info:
        load_bench(bench)
    assert str(info.value) == f"{bench}: not UTF-8 text (byte 0xe9 at offset 48); TOML files are UTF-8"


def test_a_bench_path_that_is_a_directory_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_bench(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not a bench file"


def test_secrets_are_read_from_the_environment_and_files_and_hil_variables_substituted(tmp_path, monkeypatch):
    monkeypatch.setenv("HIL_ASTARTE_HOST", "astarte.lab")
    monkeypatch.setenv("HIL_ROBOT_SECRET", "s3cret")
    (tmp_path / "jwt").write_text("eyJ.token.sig\n")
    bench = tmp_path / "bench.toml"
    bench.write_text(
        '[targets.lab]\nkind = "physical"\n'
        '[targets.lab.astarte]\nbase_url = "https://${HIL_ASTARTE_HOST}"\nrealm = "r"\njwt = "file:jwt"\n'
        '[targets.lab.destiny]\nbase_url = "http://d"\nrobot_id = "7d2c1e0a-3f4b-4c5d-8e9f-0a1b2c3d4e5f"\n'
        'robot_secret = "env:HIL_ROBOT_SECRET"\n')
    target = load_bench(bench)["lab"]
    from hil.targets.protocols import AstartePairing, DestinyRepository

    astarte = target.get(AstartePairing)
    assert astarte.pairing_base_url == "https://astarte.lab/pairing" and astarte.token == "eyJ.token.sig"
    assert target.get(DestinyRepository).robot.secret == "s3cret"
    assert "s3cret" not in repr(target.get(DestinyRepository)) and "eyJ" not in repr(astarte)


def test_the_shipped_example_bench_file_is_valid(tmp_path, monkeypatch):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "harness" / "targets" / "bench.example.toml"
    bench = tmp_path / "bench.toml"
    bench.write_text(example.read_text())
    for name in ("lab-ca.pem", "bridge-broker-ca.pem"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("HIL_ASTARTE_JWT", "eyJ.x.y")
    monkeypatch.setenv("HIL_DESTINY_ROBOT_SECRET", "secret")
    assert len(load_bench(bench)["lab"].offered()) == 9
