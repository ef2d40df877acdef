"""Which installed SDK version a check or a finding applies to.

The same checks run against several SDK version sets (``sdk-sets/``, ``hil matrix``), each in its
own environment. Two questions decide how a check's result is read there, and both are answered
from what is *installed* (``importlib.metadata`` and an import), never from what a set file
meant to install:

* Does a recorded finding hold for this version? A finding's ``sdk=`` is a PEP 508 requirement
  (``astarte-device-sdk==0.14.0``, or a range such as ``astarte-device-sdk>=0.13,<0.15``). Only
  where the installed version is inside it is the check an expected failure; elsewhere it runs
  as a plain check, and a pass there means the deviation is absent in this version ("fixed").
* Can this version take the check at all? A check written against an API the installed SDK
  lacks (``DeviceGrpc`` in astarte-device-sdk 0.12.1, or an SDK not installed in this set) is
  not applicable, which a report must tell apart from a skip for a missing target capability
  and from a failure.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement

from hil.errors import ConfigError

__all__ = ["FindingScope", "finding_scope", "installed_version", "missing_api"]


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or ``None`` when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True, slots=True)
class FindingScope:
    """How a finding's ``sdk=`` spec relates to the installed SDK.

    ``holds`` is true when the installed version is inside the spec (the finding is expected to
    reproduce); ``installed`` is ``None`` when the SDK is not installed at all.
    """

    spec: str
    distribution: str
    installed: str | None
    holds: bool

    def describe(self) -> str:
        """One line for a report: why the finding is or is not expected here."""
        if self.installed is None:
            return f"{self.distribution} is not installed (finding recorded for {self.spec})"
        where = "inside" if self.holds else "outside"
        return f"{self.distribution} {self.installed} is {where} the finding's versions ({self.spec})"


def finding_scope(spec: str) -> FindingScope:
    """Compare a finding's ``sdk=`` spec with the installed version.

    Raises:
        ConfigError: ``spec`` is not a requirement naming a version (``name==1.2.3``, a range).
    """
    try:
        requirement = Requirement(spec)
    except InvalidRequirement as exc:
        raise ConfigError(f"finding sdk={spec!r} is not a package version spec ({exc})") from None
    if not requirement.specifier:
        raise ConfigError(f"finding sdk={spec!r} names no version (write e.g. {requirement.name}==1.2.3)")
    installed = installed_version(requirement.name)
    holds = installed is not None and requirement.specifier.contains(installed, prereleases=True)
    return FindingScope(spec, requirement.name, installed, holds)


def missing_api(module: str, names: tuple[str, ...] = ()) -> str | None:
    """Why the installed SDK cannot take a check that needs ``module`` (and ``names`` in it).

    Returns ``None`` when everything is there, else one line naming what is missing. Only a
    missing *SDK* module counts: an import error inside an installed module is a real failure
    and propagates.
    """
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is None or exc.name.split(".")[0] != top:
            raise
        return f"{module} is not installed in this SDK set"
    absent = [name for name in names if not hasattr(loaded, name)]
    if not absent:
        return None
    distribution = _distribution_of(module)
    version = f" ({distribution} {installed_version(distribution)})" if distribution else ""
    return f"{module} has no {', '.join(absent)}{version}"


def _distribution_of(module: str) -> str | None:
    names = importlib.metadata.packages_distributions().get(module.split(".")[0], [])
    return names[0] if names else None
