"""Bench files: physical targets and what they can do, mistakes named by file and key."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.targets import PhysicalTarget, load_bench, resolve_target


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
    assert target.capabilities == {"broker", "locknalert.bridge"}
    assert target.broker().endpoint.url == "mqtts://broker.lab:8883/"
    bridge = target.locknalert_bridge()
    assert (bridge.host, bridge.port, bridge.serial) == ("192.0.2.10", 443, "LNA-1")
    assert type(bridge.control).__name__ == "OperatorBridgeControl"
    assert resolve_target("sim", bench).kind == "simulated"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[targets.x]\nkind = "robot"\n', "targets.x.kind: expected 'simulated' or 'physical'"),
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
    assert "\n" not in str(info.value)
