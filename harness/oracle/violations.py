"""What the oracle reports: one :class:`Violation` per broken rule, and the error that carries them
(:class:`~hil.errors.InvalidInterface`, defined in the error tree and re-exported here).

A violation names the rule (a requirement id of ``harness/catalog/astarte-*.toml``), where in the
judged document it happened (a JSONPath-like ``$.mappings[2].endpoint``) and a one-line message,
so a CLI can print ``FILE: JSON_PATH: RULE_ID: message`` and a test can assert on the rule id.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.errors import InvalidInterface

__all__ = ["InvalidInterface", "Violation"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule.

    Attributes:
        rule_id: the requirement id the check enforces (see :mod:`hil.oracle.rules`).
        json_path: where: ``$`` is the judged document, ``$.mappings[0].type`` a mapping field,
            ``$.v`` / ``$.t`` the fields of a BSON payload, ``path`` the MQTT path.
        message: what is wrong, one line.
    """

    rule_id: str
    json_path: str
    message: str

    def __str__(self) -> str:
        return f"{self.json_path}: {self.rule_id}: {self.message}"
