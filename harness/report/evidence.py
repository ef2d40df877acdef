"""Evidence files: a service log copied into the report directory, private and without secrets.

A copied log is read by people the run's secrets were never meant for (a report folder is zipped
and sent), so it is written under the reports' own policy: created 0600 in one step (as
:func:`~hil.report.atomic_file.write_atomically` writes reports), with every token a server
logs on purpose or by accident replaced by ``[redacted]`` as it is copied: blob-storage signatures
in access-log URLs (``sig=...``), bearer tokens and JWTs, secrets and passwords in ``key=value``,
``key: value`` or JSON form, and PEM private keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from hil.errors import ReportError
from hil.report.atomic_file import write_atomically

__all__ = ["REDACTED", "copy_log_redacted", "redact"]

REDACTED: Final = "[redacted]"

_SECRET_NAMES: Final = r"(?:sig|signature|token|secret|password|passwd)"
_PATTERNS: Final = (
    # PEM private keys, whole.
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), REDACTED),
    # Authorization headers, whatever the scheme (the HMAC robots' too), then bare bearer tokens.
    (re.compile(r"(?i)(\bauthorization['\"]?\s*[:=,]\s*['\"]?)[^\r\n'\"]+"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(Bearer|Basic)\s+(?!\[redacted\])[A-Za-z0-9._~+/=\-]+"), rf"\1 {REDACTED}"),
    # JWTs wherever they stand.
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # JSON members: "client_secret": "..."
    (re.compile(rf'(?i)("[a-z_]*{_SECRET_NAMES}[a-z_]*"\s*:\s*)"(?:[^"\\]|\\.)*"'), rf'\1"{REDACTED}"'),
    # key=value (query strings, log fields) and key: value.
    (re.compile(rf"(?i)(\b[a-z_]*{_SECRET_NAMES}[a-z_]*)(=|:\s*)(['\"]?)(?!{re.escape(REDACTED)})[^\s&\"',;]+"),
     rf"\1\2\3{REDACTED}"),
)


def redact(text: str) -> str:
    """``text`` with every secret the module docstring lists replaced by ``[redacted]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def copy_log_redacted(source: Path, dest: Path) -> None:
    """Copy the log ``source`` to ``dest`` (0600, parents created), secrets redacted.

    Raises:
        ReportError: the log could not be read or the copy written.
    """
    try:
        text = source.read_text(errors="replace")
    except OSError as exc:
        raise ReportError(f"cannot read {source}: {exc.strerror or exc}") from None
    write_atomically(dest, redact(text).encode("utf-8"))
