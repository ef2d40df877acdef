"""The LocknAlert bridge as hil reaches it: the bridge's address and topics, and how its buttons
are pressed (emulator control, an operator, or a command on a bench)."""
