"""``python -m hil.locknalert.relay CONTROL_URL ACTION [ARG...]``: the LocknAlert emulator's buttons.

A physical bridge's bench presses its buttons with a relay or GPIO script named in the bench file
(``locknalert.commands``); for the emulator that ``hil up`` runs, this is that script: it presses
the emulator's buttons through its control port. So the bench file ``hil up`` writes describes
the bridge the way a user describes a physical one, and the same :class:`CommandBridgeControl`
drives both.

Actions: ``open_window [SECONDS]``, ``close_window``, ``factory_reset``, ``set_mqtt_tls
true|false``, ``trigger_alert ZONE KIND``, ``set_fault FAULT DELAY``. Exit status 0 when done,
2 with one line on stderr otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hil.locknalert.control import EmulatorBridgeControl, Fault
from hil.errors import HilError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print("usage: python -m hil.locknalert.relay CONTROL_URL ACTION [ARG...]", file=sys.stderr)
        return 2
    control = EmulatorBridgeControl(args[0])
    action, rest = args[1], args[2:]
    try:
        if action == "open_window":
            control.open_window(float(rest[0]) if rest and rest[0] else None)
        elif action == "close_window":
            control.close_window()
        elif action == "factory_reset":
            control.factory_reset()
        elif action == "set_mqtt_tls":
            control.set_mqtt_tls(rest[0] == "true")
        elif action == "trigger_alert":
            control.trigger_alert(int(rest[0]), rest[1])
        elif action == "set_fault":
            control.set_fault(Fault(rest[0]), delay=float(rest[1]))
        else:
            print(f"hil.locknalert.relay: unknown action {action!r}", file=sys.stderr)
            return 2
    except (HilError, ValueError, IndexError) as exc:
        print(f"hil.locknalert.relay: {action}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
