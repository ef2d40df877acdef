"""Mosquitto configuration files, written one way for every broker hil starts.

hil runs two kinds of broker (the Astarte broker with certificate identities and an ACL file,
and the LocknAlert bridge's broker with passwords managed by Dynamic Security); both need the
same process-level settings for the same reasons, which live here once:

* ``user root`` when running as root: otherwise mosquitto drops to user ``mosquitto`` and cannot
  read hil's 0700 run directory (rc 13), and the setuid would clear our parent-death signal;
* ``persistence false`` and logging to stderr: a broker of a run keeps nothing and hil reads its
  log as evidence and for readiness;
* ``connection_messages true``: sessions are followed from the log;
* ``set_tcp_nodelay true``: without it small MQTT packets meet TCP delayed ACKs, about 40 ms per
  CONNACK (measured).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Listener", "MosquittoConfig", "TlsFiles"]


@dataclass(frozen=True)
class TlsFiles:
    """A TLS listener's server certificate, key and (to verify clients) the CA that signs them."""

    certfile: Path
    keyfile: Path
    cafile: Path | None = None


@dataclass(frozen=True)
class Listener:
    """One ``listener`` block: a loopback port, TLS or not, and how clients are identified."""

    port: int
    tls: TlsFiles | None = None
    require_certificate: bool = False
    use_identity_as_username: bool = False  # the certificate CN is the MQTT username
    use_username_as_clientid: bool = False  # ... and the client id (Astarte's broker does this)
    acl_file: Path | None = None  # per listener only with per_listener_settings

    def lines(self, *, per_listener: bool) -> list[str]:
        lines = [f"listener {self.port} 127.0.0.1"]
        if per_listener:
            lines.append("allow_anonymous false")
            if self.acl_file is not None:
                lines.append(f"acl_file {self.acl_file}")
        if self.tls is not None:
            if self.tls.cafile is not None:
                lines.append(f"cafile {self.tls.cafile}")
            lines += [f"certfile {self.tls.certfile}", f"keyfile {self.tls.keyfile}"]
        if self.require_certificate:
            lines.append("require_certificate true")
        if self.use_identity_as_username:
            lines.append("use_identity_as_username true")
        if self.use_username_as_clientid:
            lines.append("use_username_as_clientid true")
        return lines


@dataclass(frozen=True)
class MosquittoConfig:
    """A whole configuration file; :meth:`text` renders it.

    ``per_listener_settings`` is true when the listeners differ in authentication (the Astarte
    broker's device and back-office listeners each carry their own ACL); a broker whose plugin
    authenticates every listener alike (Dynamic Security) keeps it false.
    """

    listeners: Sequence[Listener]
    log_types: Sequence[str] = ("error", "warning", "notice", "information")
    per_listener_settings: bool = False
    log_to_topic: bool = False  # $SYS/broker/log/N carries connection notices to subscribers
    max_queued_messages: int | None = None  # 0 = unlimited: a back office must see every QoS 1/2
    plugins: Sequence[tuple[Path, Sequence[tuple[str, str]]]] = field(default_factory=tuple)

    def text(self) -> str:
        lines = [
            "user root" if os.geteuid() == 0 else "",
            f"per_listener_settings {'true' if self.per_listener_settings else 'false'}",
            "" if self.per_listener_settings else "allow_anonymous false",
            "persistence false",
            "log_dest stderr",
            "log_dest topic" if self.log_to_topic else "",
            *(f"log_type {kind}" for kind in self.log_types),
            "connection_messages true",
            "" if self.max_queued_messages is None else f"max_queued_messages {self.max_queued_messages}",
            "set_tcp_nodelay true",
        ]
        for plugin, options in self.plugins:
            lines.append(f"plugin {plugin}")
            lines += [f"plugin_opt_{key} {value}" for key, value in options]
        for listener in self.listeners:
            lines += listener.lines(per_listener=self.per_listener_settings)
        return "\n".join(line for line in lines if line) + "\n"
