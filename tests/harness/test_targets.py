"""The capability seam: targets hand out protocol implementations, bridge controls, fidelity."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hil.locknalert.control import CommandBridgeControl, ControlAction, Fault, OperatorBridgeControl, OperatorDeclined
from hil.errors import MissingCapability, TargetError
from hil.oracle import ValueType
from hil.targets.physical import PhysicalTarget
from hil.targets.protocols import AppEngine, DestinyControl, IdentityMint, RealmMessageLog, SimulatorOnly
from hil.targets.simulated import SimulatedTarget
from hil.simulators.astarte.values import render


def test_the_simulated_target_offers_every_protocol_without_starting_anything():
    target = SimulatedTarget()
    try:
        assert target.offers(AppEngine) and target.offers(RealmMessageLog) and target.offers(DestinyControl)
        assert target._components == {}
    finally:
        target.close()


def test_a_target_without_a_protocol_names_itself_and_the_protocol():
    target = PhysicalTarget("rack", "", {})
    with pytest.raises(MissingCapability) as info:
        target.get(IdentityMint)
    assert str(info.value) == "target 'rack': lacks device identity mint (IdentityMint)"
    assert issubclass(RealmMessageLog, SimulatorOnly) and not issubclass(AppEngine, SimulatorOnly)


def test_an_implementation_that_is_not_the_protocol_is_refused():
    target = PhysicalTarget("rack", "", {AppEngine: object()})
    with pytest.raises(MissingCapability, match="object does not implement it"):
        target.get(AppEngine)


@pytest.mark.parametrize("value_type", [ValueType.INTEGERARRAY, ValueType.STRINGARRAY, ValueType.BINARYBLOBARRAY])
def test_appengine_renders_an_empty_array_as_null_as_astarte_does(value_type):
    assert render(value_type, [], longinteger_as_string=True) is None
    assert render(value_type, [], longinteger_as_string=False) is None


def test_bridge_commands_run_with_their_placeholders_filled_in(tmp_path):
    log = tmp_path / "pressed"
    script = f"{sys.executable} -c \"import sys; open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + chr(10))\""
    control = CommandBridgeControl({"open_window": f"{script} open {{seconds}}",
                                    "set_fault": f"{script} fault {{fault}} {{delay}}"},
                                   faults=frozenset({Fault.SLOW}), target="rack")
    control.open_window(30)
    control.set_fault(Fault.SLOW, delay=2.5)
    assert log.read_text().splitlines() == ["open 30", "fault slow 2.5"]
    assert control.supports(ControlAction.OPEN_WINDOW) and not control.supports(ControlAction.FACTORY_RESET)
    assert control.supports(Fault.SLOW) and not control.supports(Fault.BUSY)
    with pytest.raises(OperatorDeclined, match="target 'rack': the bench has no command for factory_reset"):
        control.factory_reset()


def test_a_failing_bridge_command_is_a_target_error_naming_it(tmp_path):
    control = CommandBridgeControl({"close_window": f"{sys.executable} -c \"import sys; sys.exit('relay stuck')\""},
                                   target="rack")
    with pytest.raises(TargetError, match="bridge command for close_window exited 1: relay stuck"):
        control.close_window()


def test_an_operator_prompt_without_a_terminal_declines_naming_the_target():
    """In a session of its own a process has no controlling terminal: /dev/tty cannot open."""
    code = ("from hil.locknalert.control import OperatorBridgeControl, OperatorDeclined\n"
            "try:\n    OperatorBridgeControl(target='rack').open_window()\n"
            "except OperatorDeclined as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          start_new_session=True, stdin=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[2])
    assert "target 'rack': needs an operator at a terminal" in done.stdout, done.stdout + done.stderr


def test_an_operator_answers_on_the_given_terminal(tmp_path):
    import io

    answers, shown = io.StringIO("\nskip\n"), io.StringIO()
    control = OperatorBridgeControl(input=answers, output=shown, target="rack")
    control.open_window()
    with pytest.raises(OperatorDeclined, match="target 'rack': operator declined"):
        control.close_window()
    assert "Press the pairing" in shown.getvalue()
