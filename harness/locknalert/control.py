"""The control seam of a LocknAlert bridge: what a check may ask the bridge's *owner* to do.

A check never pokes the bridge's internals. Everything beyond the bridge's HTTPS API and its
broker goes through :class:`BridgeControl`, which a bench can satisfy in two ways:

* :class:`EmulatorBridgeControl` calls the emulator's control routes (a separate loopback port,
  ``/_sim/...``, never the bridge API port);
* :class:`OperatorBridgeControl` prints an instruction ("press Allow Provisioning now") and waits
  for a person at the bench to confirm on the terminal (``/dev/tty``, never a captured stdin);
* :class:`CommandBridgeControl` runs the bench's own command for each action (a relay or GPIO
  script pressing the button, a fault proxy's CLI), as the bench file says.

So the same conformance checks run against the emulator and against a physical bridge. What a
physical bridge cannot do (most fault modes) is announced by :meth:`BridgeControl.supports`, and
checks skip with that reason.

Life cycle of the bridge as the control sees it::

    UNPROVISIONED --open_window--> window open --bootstrap--> PROVISIONED (token T1)
    PROVISIONED --bootstrap with T1--> PROVISIONED (token T2, T1 invalid)
    any --factory_reset--> UNPROVISIONED (MQTT credentials revoked, window closed)
"""

from __future__ import annotations

import enum
import os
import shlex
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TextIO

import httpx

from hil.errors import OperatorDeclined, TargetError

__all__ = [
    "BridgeControl",
    "CommandBridgeControl",
    "ControlAction",
    "EmulatorBridgeControl",
    "Fault",
    "OperatorBridgeControl",
    "OperatorDeclined",
]


class Fault(enum.StrEnum):
    """Misbehaviours of the bridge API a check can switch on (until cleared or reset)."""

    NONE = "none"
    SLOW = "slow"  # answer only after ``delay`` seconds
    DROP = "drop"  # read the request, then close the connection without answering
    INVALID_JSON = "invalid_json"  # 200, application/json, truncated JSON
    NOT_JSON = "not_json"  # 200, text/html page (as a captive portal or proxy would send)
    NON_OBJECT = "non_object"  # 200, a JSON array instead of an object
    UNDECODABLE = "undecodable"  # 200, application/json, bytes that are not UTF-8
    INCOMPLETE_BOOTSTRAP = "incomplete_bootstrap"  # bootstrap 200 without password/pairing_token
    MALFORMED_BOOTSTRAP = "malformed_bootstrap"  # bootstrap 200 whose port is not a number
    BUSY = "busy"  # 503 on every API request


class ControlAction(enum.StrEnum):
    """Control operations other than faults, for :meth:`BridgeControl.supports`."""

    OPEN_WINDOW = "open_window"
    CLOSE_WINDOW = "close_window"
    FACTORY_RESET = "factory_reset"
    SET_MQTT_TLS = "set_mqtt_tls"
    TRIGGER_ALERT = "trigger_alert"
    RESTART_BROKER = "restart_broker"


class BridgeControl(ABC):
    """What a check may ask of the bridge beyond its API. Every call returns once it is done."""

    @abstractmethod
    def supports(self, action: Fault | ControlAction) -> bool:
        """Whether this bench can do ``action`` at all (checks skip when it cannot)."""

    @abstractmethod
    def open_window(self, seconds: float | None = None) -> None:
        """Open the onboarding window (press the pairing button); it closes by itself later."""

    @abstractmethod
    def close_window(self) -> None:
        """Close the onboarding window now."""

    @abstractmethod
    def factory_reset(self) -> None:
        """Forget the pairing: revoke the MQTT credentials, drop the token, close the window.

        Also clears any fault and returns the lock to ``locked``.
        """

    @abstractmethod
    def set_fault(self, fault: Fault, *, delay: float = 0.0) -> None:
        """Make the bridge API misbehave as ``fault`` until :meth:`clear_fault` or a reset."""

    def clear_fault(self) -> None:
        self.set_fault(Fault.NONE)

    @abstractmethod
    def set_mqtt_tls(self, required: bool) -> None:
        """Whether the next bootstraps point clients to the broker's TLS listener."""

    @abstractmethod
    def trigger_alert(self, zone: int, kind: str = "intrusion") -> None:
        """Make the bridge raise an alert event on ``zone`` (e.g. open a door sensor)."""

    @abstractmethod
    def restart_broker(self) -> None:
        """Restart the MQTT broker the bridge points to; returns once it serves again."""


class EmulatorBridgeControl(BridgeControl):
    """Drives the emulator through its control routes.

    Args:
        control_url: ``http://127.0.0.1:<control port>`` of the emulator.
        restart_broker: restarts the emulator's broker (the harness owns that service, not the
            emulator); None if this bench cannot.
    """

    def __init__(self, control_url: str, *, restart_broker: Callable[[], None] | None = None) -> None:
        self.control_url = control_url.rstrip("/")
        self._restart_broker = restart_broker

    def supports(self, action: Fault | ControlAction) -> bool:
        return action is not ControlAction.RESTART_BROKER or self._restart_broker is not None

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            with httpx.Client(timeout=10.0) as client:
                response = client.request(method, f"{self.control_url}/_sim/{path}", json=body)
        except httpx.HTTPError as exc:
            raise TargetError("locknalert", f"emulator control {path}: {exc}") from None
        if response.status_code >= 400:
            raise TargetError("locknalert", f"emulator control {path}: HTTP {response.status_code} {response.text}")
        return response.json()

    def state(self) -> dict[str, Any]:
        """The emulator's state (emulator-only; conformance checks must not rely on it)."""
        return dict(self._call("GET", "state"))

    def open_window(self, seconds: float | None = None) -> None:
        self._call("POST", "window/open", {} if seconds is None else {"seconds": seconds})

    def close_window(self) -> None:
        self._call("POST", "window/close", {})

    def factory_reset(self) -> None:
        self._call("POST", "reset", {})

    def set_fault(self, fault: Fault, *, delay: float = 0.0) -> None:
        self._call("POST", "fault", {"mode": str(fault), "delay": delay})

    def set_mqtt_tls(self, required: bool) -> None:
        self._call("POST", "mqtt-tls", {"required": required})

    def trigger_alert(self, zone: int, kind: str = "intrusion") -> None:
        self._call("POST", "alert", {"zone": zone, "kind": kind})

    def restart_broker(self) -> None:
        if self._restart_broker is None:
            raise TargetError("locknalert", "this bench cannot restart the bridge's broker")
        self._restart_broker()


_INSTRUCTIONS: dict[ControlAction, str] = {
    ControlAction.OPEN_WINDOW: "Press the pairing (Allow Provisioning) button on the bridge now.",
    ControlAction.CLOSE_WINDOW: "Close the bridge's onboarding window (wait until its pairing LED stops blinking).",
    ControlAction.FACTORY_RESET: "Factory-reset the bridge (hold the reset button until it restarts).",
    ControlAction.SET_MQTT_TLS: "",  # built per call
    ControlAction.TRIGGER_ALERT: "",  # built per call
    ControlAction.RESTART_BROKER: "Restart the MQTT broker the bridge points to, and wait until it is back.",
}


class OperatorBridgeControl(BridgeControl):
    """A person at the bench carries out each step and confirms it.

    Each call prints one instruction and waits for a line: empty or ``y``/``done`` means done,
    ``n``/``skip`` means the operator cannot do it (:class:`OperatorDeclined`, the check is
    skipped). End of input also declines, so an unattended run never hangs on a prompt.

    By default the prompt goes to the controlling terminal (``/dev/tty``), which pytest's output
    capture does not swallow; a run without one (CI, a pipe) declines every prompt, naming the
    target, so those checks skip instead of erroring.

    Args:
        input, output: the terminal (``/dev/tty`` by default; tests pass files).
        faults: the fault modes this bench can produce (e.g. with a fault proxy); none by default.
        target: the target's name, for the reason of a declined step.
    """

    def __init__(
        self,
        *,
        input: TextIO | None = None,  # the operator's input stream
        output: TextIO | None = None,
        faults: frozenset[Fault] = frozenset(),
        target: str = "locknalert",
    ) -> None:
        self._input = input
        self._output = output
        self._faults = faults | {Fault.NONE}
        self.target = target

    def _terminal(self) -> tuple[TextIO, TextIO]:
        """The operator's input and output: as given, else the controlling terminal."""
        if self._input is not None:
            return self._input, self._output if self._output is not None else sys.stdout
        try:
            tty = open("/dev/tty", "r+", encoding="utf-8")  # noqa: SIM115 - kept for the whole run
        except OSError:
            raise OperatorDeclined(self.target, "needs an operator at a terminal, and this run has none "
                                                "(no /dev/tty); run it interactively or use bridge commands") from None
        self._input = tty
        self._output = self._output if self._output is not None else tty
        return self._input, self._output

    def supports(self, action: Fault | ControlAction) -> bool:
        if isinstance(action, Fault):
            return action in self._faults
        return True

    def _ask(self, instruction: str) -> None:
        source, sink = self._terminal()
        sink.write(f"\n[hil operator] {instruction}\n[hil operator] Press Enter when done (or type 'skip'): ")
        sink.flush()
        line = source.readline()
        if not line:
            raise OperatorDeclined(self.target, f"no operator answer (input closed) for: {instruction}")
        answer = line.strip().lower()
        if answer in ("", "y", "yes", "done", "ok"):
            return
        raise OperatorDeclined(self.target, f"operator declined: {instruction}")

    def open_window(self, seconds: float | None = None) -> None:
        self._ask(_INSTRUCTIONS[ControlAction.OPEN_WINDOW])

    def close_window(self) -> None:
        self._ask(_INSTRUCTIONS[ControlAction.CLOSE_WINDOW])

    def factory_reset(self) -> None:
        self._ask(_INSTRUCTIONS[ControlAction.FACTORY_RESET])

    def set_fault(self, fault: Fault, *, delay: float = 0.0) -> None:
        if not self.supports(fault):
            raise OperatorDeclined(self.target, f"this bench cannot produce fault {fault}")
        if fault is Fault.NONE:
            self._ask("Remove any fault you injected between the bridge and this machine.")
        else:
            extra = f" with a delay of {delay:g} s" if fault is Fault.SLOW else ""
            self._ask(f"Switch the fault injector to {fault.value!r}{extra}.")

    def set_mqtt_tls(self, required: bool) -> None:
        wanted = "require TLS for MQTT clients" if required else "accept plain MQTT clients"
        self._ask(f"Configure the bridge to {wanted}.")

    def trigger_alert(self, zone: int, kind: str = "intrusion") -> None:
        self._ask(f"Trigger an {kind!r} alert on zone {zone} of the bridge (e.g. open that sensor).")

    def restart_broker(self) -> None:
        self._ask(_INSTRUCTIONS[ControlAction.RESTART_BROKER])


class CommandBridgeControl(BridgeControl):
    """Runs the bench's command for each action (a relay script, a fault proxy's CLI).

    Commands are split like a shell would (``shlex``) but run without one, after these
    placeholders are filled in: ``{seconds}`` (open_window; empty for the bridge's default),
    ``{required}`` (set_mqtt_tls: ``true``/``false``), ``{zone}`` and ``{kind}`` (trigger_alert),
    ``{fault}`` and ``{delay}`` (set_fault). An action without a command is one the bench cannot
    do (checks that need it skip); a command that fails is a :class:`TargetError` naming it.

    Args:
        commands: action name (a :class:`ControlAction` value, or ``set_fault``) -> command line.
        faults: the fault modes the ``set_fault`` command can produce.
        target: the target's name, for errors.
        cwd: where the commands run (the bench file's directory).
    """

    def __init__(self, commands: dict[str, str], *, faults: frozenset[Fault] = frozenset(),
                 target: str = "locknalert", cwd: str | None = None, timeout: float = 120.0) -> None:
        self.commands = dict(commands)
        self.faults = faults | ({Fault.NONE} if "set_fault" in commands else set())
        self.target = target
        self.cwd = cwd
        self.timeout = timeout

    def supports(self, action: Fault | ControlAction) -> bool:
        if isinstance(action, Fault):
            return "set_fault" in self.commands and action in self.faults
        return str(action) in self.commands

    def _run(self, action: str, **values: object) -> None:
        if action not in self.commands:
            raise OperatorDeclined(self.target, f"the bench has no command for {action}")
        argv = [word.format(**values) for word in shlex.split(self.commands[action])]
        try:
            done = subprocess.run(argv, cwd=self.cwd, capture_output=True, text=True, timeout=self.timeout,
                                  env=os.environ.copy(), check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TargetError(self.target, f"bridge command for {action} ({argv[0]}) failed: {exc}") from None
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
            raise TargetError(self.target, f"bridge command for {action} exited {done.returncode}: {tail[0]}")

    def open_window(self, seconds: float | None = None) -> None:
        self._run("open_window", seconds="" if seconds is None else f"{seconds:g}")

    def close_window(self) -> None:
        self._run("close_window")

    def factory_reset(self) -> None:
        self._run("factory_reset")

    def set_fault(self, fault: Fault, *, delay: float = 0.0) -> None:
        if not self.supports(fault):
            raise OperatorDeclined(self.target, f"this bench cannot produce fault {fault}")
        self._run("set_fault", fault=fault.value, delay=f"{delay:g}")

    def set_mqtt_tls(self, required: bool) -> None:
        self._run("set_mqtt_tls", required="true" if required else "false")

    def trigger_alert(self, zone: int, kind: str = "intrusion") -> None:
        self._run("trigger_alert", zone=zone, kind=kind)

    def restart_broker(self) -> None:
        self._run("restart_broker")
