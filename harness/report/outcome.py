"""The one place that turns pytest's reports into a check outcome.

pytest spreads the verdict on one test over three reports (setup, call, teardown) and over
attributes (``outcome``, ``wasxfail``, the text of ``longrepr``); the run record needs one word.
Both the live recording (the pytest plugin) and anything that classifies a single report use this
module, so they can never disagree. The case that used to be classified two ways: a *strict*
XPASS. pytest reports it as a plain failure of the call phase whose text starts with
``[XPASS(strict)]``; for hil that is a finding which no longer reproduces, ``xpassed``, not a
regression of the SDK.

Skips get a reason kind as well, because an auditor must tell "the bench cannot do this"
(capability missing) from "the operator said no" from any other skip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

__all__ = [
    "OUTCOMES",
    "SKIP_KINDS",
    "Outcome",
    "OutcomeFold",
    "SkipKind",
    "classify_outcome",
    "skip_kind",
]

Outcome = Literal["passed", "failed", "skipped", "xfailed", "xpassed", "error"]
OUTCOMES: Final[tuple[str, ...]] = get_args(Outcome)

SkipKind = Literal["capability-missing", "operator-declined", "other"]
SKIP_KINDS: Final[tuple[str, ...]] = get_args(SkipKind)

_STRICT_XPASS: Final = "[XPASS(strict)]"

#: How hil's fixtures word a skip (``hil.targets.Target.require``, ``fixtures/*``,
#: ``hil.locknalert.control.OperatorDeclined``). Matching words is brittle, so the patterns are
#: anchored on hil's own messages and everything else is ``other``, never guessed.
_OPERATOR: Final = re.compile(r"\boperator declined\b|\bno operator answer\b")
_CAPABILITY: Final = re.compile(
    r"\blacks\b|\bcannot do\b|\bdescribes no\b|\bhas no [A-Za-z]+ component\b|\bexists only on\b"
    r"|\bnames no\b"
)


def classify_outcome(*, when: str, outcome: str, wasxfail: str | None = None, longrepr: str = "") -> Outcome:
    """The outcome one pytest report phase stands for.

    Args:
        when: ``setup``, ``call`` or ``teardown``.
        outcome: ``passed``, ``failed`` or ``skipped``.
        wasxfail: the report's ``wasxfail`` attribute, ``None`` if it has none.
        longrepr: the report's text (only inspected for the strict XPASS marker).
    """
    if wasxfail is not None:
        return "xfailed" if outcome == "skipped" else "xpassed"
    if outcome == "failed" and longrepr.lstrip().startswith(_STRICT_XPASS):
        return "xpassed"
    if outcome == "failed":
        return "failed" if when == "call" else "error"
    if outcome == "skipped":
        return "skipped"
    return "passed"


def skip_kind(reason: str) -> SkipKind:
    """Why a check was skipped, from its reason text."""
    if _OPERATOR.search(reason):
        return "operator-declined"
    if _CAPABILITY.search(reason):
        return "capability-missing"
    return "other"


@dataclass
class OutcomeFold:
    """Folds the setup, call and teardown phases of one test into its outcome.

    Rules: the call decides; a failing setup is an ``error`` (the check never ran), a skipping
    setup a skip; a failing teardown turns a pass, an expected failure or a skip into an
    ``error`` (something of ours broke) but never hides a failure already recorded.
    """

    outcome: Outcome = "passed"

    def add(self, *, when: str, outcome: str, wasxfail: str | None = None, longrepr: str = "") -> bool:
        """Fold one phase in; return whether it changed the outcome (the caller then keeps its message)."""
        phase = classify_outcome(when=when, outcome=outcome, wasxfail=wasxfail, longrepr=longrepr)
        if when == "call":
            self.outcome = phase
            return phase != "passed"
        if when == "setup":
            if phase in ("error", "skipped", "xfailed"):
                self.outcome = phase
                return True
            return False
        if phase == "error" and self.outcome in ("passed", "xfailed", "skipped"):
            self.outcome = "error"
            return True
        return False
