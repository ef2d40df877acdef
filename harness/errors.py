"""Every error hil raises on purpose, in one tree.

::

    HilError                      base: catch this to catch everything hil means to raise
    ├── ConfigError               bad user input: bench file, CLI option, target name, interface file
    │   └── InvalidInterface      an Astarte interface that breaks the specification's rules
    ├── ServiceError              a service could not be started, reached or stopped
    │   ├── StartupTimeout        readiness did not arrive in time
    │   ├── ServiceExited         the process/container ended while it should be running
    │   ├── PortInUse             the port picked for it was taken (the backend retries)
    │   └── DynamicSecurityError  Mosquitto's dynamic-security plugin refused a command
    ├── PKIError                  a certificate could not be issued, signed or loaded
    ├── TargetError               the target cannot do what a check needs
    │   ├── MissingCapability     it does not offer a capability protocol (checks skip)
    │   ├── TargetUnreachable     it offers it, but cannot be reached or refuses our credentials
    │   └── OperatorDeclined      the bench operator could not carry out an instruction
    ├── BsonError                 bytes that are not BSON we support, or a value BSON cannot hold
    ├── RequirementError          an unknown or malformed requirement id
    ├── ReportError               a run record that does not validate, or cannot be written
    ├── FaultError                a fault specification that cannot be applied (bad toxic, unknown proxy)
    └── HarnessLeak               a process, port or temp dir of ours outlived its run

Every user-facing error carries the object it concerns (the service name, the file path, the
requirement id) so that the CLI can print one line that says what to fix, and never a traceback.
An ``OSError`` that reaches a user becomes such a line with :func:`describe_os_error`.
:func:`named_os_error` adds the subject the OS left out (an address, an option) where the caller
still knows it.
Usage::

    try:
        broker.start(readiness)
    except StartupTimeout as exc:
        print(exc.service, exc.log_tail())
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hil.oracle.violations import Violation

__all__ = [
    "BsonError",
    "ConfigError",
    "DynamicSecurityError",
    "FaultError",
    "HarnessLeak",
    "HilError",
    "InvalidInterface",
    "MissingCapability",
    "OperatorDeclined",
    "PKIError",
    "PortInUse",
    "ReportError",
    "RequirementError",
    "ServiceError",
    "ServiceExited",
    "StartupTimeout",
    "TargetError",
    "TargetUnreachable",
    "describe_os_error",
    "named_os_error",
]


class HilError(Exception):
    """Base class of every error hil raises deliberately.

    ``str(error)`` is always a single line fit for a terminal.
    """


class ConfigError(HilError):
    """The user gave hil something it cannot use.

    Args:
        message: what is wrong, in one line.
        source: the file (or option) the bad value came from, if any.
    """

    def __init__(self, message: str, *, source: str | Path | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class InvalidInterface(ConfigError):
    """An interface definition that breaks at least one rule; ``violations`` lists them all."""

    def __init__(self, violations: Sequence[Violation], *, source: str | Path | None = None) -> None:
        self.violations = tuple(violations)
        first = self.violations[0] if self.violations else None
        more = f" (and {len(self.violations) - 1} more)" if len(self.violations) > 1 else ""
        summary = f"invalid interface: {first}{more}" if first else "invalid interface"
        super().__init__(summary, source=source)


class ServiceError(HilError):
    """A service failed; ``service`` is its name and ``log_path`` its log file, if any."""

    def __init__(self, service: str, message: str, *, log_path: Path | None = None) -> None:
        self.service = service
        self.log_path = log_path
        super().__init__(f"service {service!r}: {message}")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the service log: what a failing test should show."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


class StartupTimeout(ServiceError):
    """The readiness check did not pass before the deadline."""


class ServiceExited(ServiceError):
    """The service process ended while it was expected to run."""

    def __init__(
        self, service: str, message: str, *, returncode: int | None, log_path: Path | None = None
    ) -> None:
        self.returncode = returncode
        super().__init__(service, message, log_path=log_path)


class PortInUse(ServiceError):
    """The port picked for the service was taken before it could bind it."""


class DynamicSecurityError(ServiceError):
    """The plugin refused a command (``error`` is its text, e.g. ``Client already exists``)."""

    def __init__(self, service: str, command: str, error: str) -> None:
        self.command = command
        self.error = error
        super().__init__(service, f"dynamic security {command}: {error}")


class PKIError(HilError):
    """A certificate, key or CSR could not be produced or parsed."""


class TargetError(HilError):
    """The selected target cannot serve what a check asks of it."""

    def __init__(self, target: str, message: str) -> None:
        self.target = target
        super().__init__(f"target {target!r}: {message}")


class OperatorDeclined(TargetError):
    """The bench operator could not (or would not) carry out an instruction."""


class BsonError(HilError):
    """Bytes that are not a well-formed BSON document we support, or a value BSON cannot hold.

    ``offset`` is the byte position where decoding failed (``None`` when encoding).
    """

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        self.offset = offset
        super().__init__(f"BSON: {message}" + (f" (at byte {offset})" if offset is not None else ""))
class MissingCapability(TargetError):
    """The target does not offer ``protocol`` (a capability class of
    :mod:`hil.targets.protocols`); fixtures turn this into a skip with the message."""

    def __init__(self, target: str, protocol: type, why: str = "") -> None:
        self.protocol = protocol
        name = getattr(protocol, "name", lambda: protocol.__name__)()
        super().__init__(target, f"lacks {name} ({protocol.__name__})" + (f": {why}" if why else ""))


class TargetUnreachable(TargetError):
    """A capability the target claims cannot be used now: unreachable, or our credentials are
    refused. A run that meets this before its checks is inconclusive, never an SDK failure."""


class RequirementError(HilError):
    """A requirement id is unknown, or the registry itself is malformed."""

    def __init__(self, requirement_id: str, message: str) -> None:
        self.requirement_id = requirement_id
        super().__init__(message)


class ReportError(HilError):
    """A run record is invalid or could not be written."""


class FaultError(HilError):
    """A fault (a toxic, a proxy, an injected answer) was refused or could not be applied.

    Args:
        status: the HTTP status a fault API answers with for it (400 bad specification, 404
            unknown proxy or toxic, 409 already exists), so the fault proxy's server and its
            client share one error.
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class HarnessLeak(HilError):
    """Something hil started or created is still there after teardown.

    Args:
        leaks: one human-readable line per leaked thing (``process 1234 mosquitto``,
            ``port 127.0.0.1:40511``, ``temp dir /tmp/hil-xyz``).
    """

    def __init__(self, leaks: Sequence[str]) -> None:
        self.leaks = list(leaks)
        super().__init__("leaked after teardown: " + "; ".join(self.leaks))


def describe_os_error(exc: OSError, subject: str | None = None) -> str:
    """One line saying what failed and why, for an ``OSError`` that reaches a user.

    ``exc.strerror`` alone ("No such file or directory") drops the file name, and ``str(exc)``
    adds an errno prefix nobody needs. Socket calls name neither host nor port, so the caller
    says what it was doing as ``subject`` (``"cannot listen on 127.0.0.1:8443"``); the file
    names the error carries, if any, follow it.

    >>> describe_os_error(FileNotFoundError(2, "No such file or directory", "seed.json"))
    'seed.json: No such file or directory'
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    files = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name is not None)
    what = ": ".join(part for part in (subject, files) if part)
    line = f"{what}: {reason}" if what else reason
    return " ".join(line.splitlines())


def named_os_error(exc: OSError, subject: str) -> OSError:
    """``exc`` as an OSError whose message says what failed: ``subject``, the files, the reason.

    For the errors that name neither address nor file (sockets, ssl): re-raised where the caller
    still knows which address or option it was using, so that ``main`` prints one complete line.
    The errno is kept for callers that tell errors apart by it.

    >>> str(named_os_error(OSError(98, "Address already in use"), "cannot listen on 127.0.0.1:80"))
    '[Errno 98] cannot listen on 127.0.0.1:80: Address already in use'
    """
    return OSError(exc.errno, describe_os_error(exc, subject))
