"""Endpoint templates (``/sensors/%{id}/value``) and the geometry between them.

Both interface validation (do two endpoints clash?) and path resolution (which endpoint does a
path name?) reason about the same thing: a sequence of levels, each a literal name or a
parameter. This module is that one shared notion, so the two can never disagree.

Clash rules, as Astarte states them (030-interface.md, "Limitations") and enforces them
(astarte_core ``EndpointsAutomaton``, which rejects an interface when resolving one endpoint
with its parameters taken as wildcards does not land on exactly that endpoint):

* two endpoints *overlap* when some path matches both (same depth, and at every level the two
  literals are equal or at least one side is a parameter);
* one endpoint is a *prefix* of another when some path matched by the shorter one is the start
  of a path matched by the longer one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["ENDPOINT_PATTERN", "EndpointTemplate", "Level", "is_placeholder"]

_NAME: Final = r"[a-zA-Z_][a-zA-Z0-9_]*"
#: One level: a literal name or a ``%{name}`` parameter; 1 to 64 levels (mapping.json pattern).
ENDPOINT_PATTERN: Final = re.compile(rf"(?:/(?:%{{{_NAME}}}|{_NAME})){{1,64}}")
_PARAMETER: Final = re.compile(rf"%{{({_NAME})}}")


def is_placeholder(token: str) -> bool:
    """True if a path level *looks like* ``%{name}``; Astarte treats such a level as a wildcard."""
    return _PARAMETER.search(token) is not None


@dataclass(frozen=True, slots=True)
class Level:
    """One level of an endpoint: ``name`` is the literal text or, when ``parameter``, its name."""

    name: str
    parameter: bool

    def compatible(self, other: Level) -> bool:
        """Can one path level match both? (a parameter matches any value)."""
        return self.parameter or other.parameter or self.name == other.name

    def __str__(self) -> str:
        return f"%{{{self.name}}}" if self.parameter else self.name


@dataclass(frozen=True, slots=True)
class EndpointTemplate:
    """A syntactically valid endpoint, split into levels. Build it with :meth:`parse`."""

    text: str
    levels: tuple[Level, ...]

    @classmethod
    def parse(cls, text: str) -> EndpointTemplate:
        """Split ``text``; raises ``ValueError`` if it does not match :data:`ENDPOINT_PATTERN`."""
        if not ENDPOINT_PATTERN.fullmatch(text):
            raise ValueError(f"not an endpoint: {text!r}")
        levels = []
        for token in text[1:].split("/"):
            match = _PARAMETER.fullmatch(token)
            levels.append(Level(match.group(1), True) if match else Level(token, False))
        return cls(text, tuple(levels))

    @property
    def depth(self) -> int:
        return len(self.levels)

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.levels if level.parameter)

    @property
    def parent(self) -> tuple[Level, ...]:
        """All levels but the last: the path an object aggregate is published on."""
        return self.levels[:-1]

    @property
    def last(self) -> Level:
        """The last level; for object aggregates its name is the key in the BSON document."""
        return self.levels[-1]

    def normalized(self) -> str:
        """Parameter names removed and case folded: Astarte's uniqueness key for endpoints."""
        return "/" + "/".join("" if level.parameter else level.name.lower() for level in self.levels)

    def overlaps(self, other: EndpointTemplate) -> bool:
        """True if at least one path matches both endpoints."""
        return self.depth == other.depth and _compatible(self.levels, other.levels)

    def is_prefix_of(self, other: EndpointTemplate) -> bool:
        """True if a path matched by ``self`` can start a longer path matched by ``other``."""
        return self.depth < other.depth and _compatible(self.levels, other.levels[: self.depth])

    def __str__(self) -> str:
        return self.text


def _compatible(a: tuple[Level, ...], b: tuple[Level, ...]) -> bool:
    return all(x.compatible(y) for x, y in zip(a, b, strict=True))
