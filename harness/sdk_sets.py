"""SDK version sets and the isolated environment each one runs in.

A set is a pip requirements file in ``sdk-sets/`` (``current.txt`` is the one ``scripts/setup``
installs): exact pins of the SDK releases under test and of what they force on hil (the Message
Hub proto version, paho-mqtt).

Why one environment per set, holding hil's code and that set only: SDK releases pin
incompatible dependencies (astarte-device-sdk 0.13.4 and 0.12.1 pin ``paho-mqtt==1.6.1``;
aiolocknalert needs paho-mqtt >= 2.1), so no single environment holds every release, and two
releases of one package can never share a process. That is also how a user's application runs
an SDK: in an environment where only its own pins hold. hil's own MQTT code works on both paho
lines through one seam (:mod:`hil.mqtt.paho`), so hil itself needs no environment of its own
beside the set's; an SDK that the set's pins exclude (aiolocknalert beside paho 1.6.1) is simply
absent there, and its checks are not applicable (``sdk_has``).

How an environment is built (:func:`build_environment`):

* ``python -m venv`` under the hil cache (:mod:`hil.cachedir`), in a folder named after the
  set and a digest of everything that decides its contents (the set file, the constraints, hil's
  dependency list, the interpreter version), so a changed input builds a new one and an
  unchanged one costs nothing;
* ``pip install`` of the set's pins, plus hil's own dependencies except the SDKs (they come from
  the set only) and except what the set pins itself, constrained by ``constraints.txt`` minus the
  packages the set pins (the set wins for what it names: the lock pins paho-mqtt 2.2.0 and
  proto 0.7.0 for the current set, which an older set must override);
* hil itself is not installed there: checks run from the checkout (``PYTHONPATH`` names a tree of
  links to it, :func:`hil.package_data.link_tree`), so the
  environment depends on hil's dependencies, not on its code, and survives every edit;
* a set that pip cannot install is a result, not an error: :class:`EnvironmentResult` carries
  pip's reason, and nothing half-built is kept.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from hil.package_data import cache_dir
from hil.errors import ConfigError

__all__ = [
    "SDK_DISTRIBUTIONS",
    "EnvironmentResult",
    "SdkSet",
    "build_environment",
    "environment_dir",
    "load_set",
    "load_sets",
]

SDK_DISTRIBUTIONS: Final = ("astarte-device-sdk", "destiny-sdk", "aiolocknalert")
"""The systems under test: they come from a set file only, never from hil's dependency list."""

_MARKER: Final = "hil-env.json"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(line: str) -> str | None:
    match = _NAME.match(line)
    return _canonical(match.group(1)) if match else None


def _lines(text: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


@dataclass(frozen=True, slots=True)
class SdkSet:
    """One set file: its name (the file stem), its pins, and the text they came from."""

    name: str
    path: Path
    requirements: tuple[str, ...]

    @property
    def pinned(self) -> frozenset[str]:
        """Canonical names of the packages the set pins."""
        return frozenset(name for line in self.requirements if (name := _requirement_name(line)))

    def pins(self) -> dict[str, str]:
        """``{package: version}`` for the ``name==version`` lines (what the set asks for)."""
        found: dict[str, str] = {}
        for line in self.requirements:
            name, sep, version = line.partition("==")
            if sep and (canonical := _requirement_name(name)):
                found[canonical] = version.strip()
        return found


def load_set(path: Path) -> SdkSet:
    """Read one set file; a missing file or one that pins nothing is one :class:`ConfigError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read SDK set: {exc.strerror or exc}", source=path) from None
    requirements = tuple(_lines(text))
    if not requirements:
        raise ConfigError("SDK set pins nothing", source=path)
    for line in requirements:
        if line.startswith("-"):
            raise ConfigError(f"SDK set lines are package pins only, not pip options ({line!r})", source=path)
    return SdkSet(path.stem, path, requirements)


def load_sets(folder: Path, names: Sequence[str] = ()) -> list[SdkSet]:
    """The sets in ``folder`` (all ``*.txt``, sorted by name), or only those ``names`` asks for."""
    available = {path.stem: path for path in sorted(folder.glob("*.txt"))}
    if not available:
        raise ConfigError("no SDK sets (expected one *.txt file per set)", source=folder)
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ConfigError(f"no SDK set {', '.join(unknown)} (sets: {', '.join(available)})", source=folder)
    return [load_set(available[name]) for name in (names or list(available))]


def hil_requirements(pyproject: Path, sdk_set: SdkSet) -> list[str]:
    """hil's dependencies and test extras, minus the SDKs and minus what the set pins itself."""
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read hil's dependencies: {exc}", source=pyproject) from None
    wanted = list(project.get("dependencies", [])) + list(project.get("optional-dependencies", {}).get("test", []))
    dropped = set(SDK_DISTRIBUTIONS) | sdk_set.pinned
    return [line for line in wanted if _requirement_name(line) not in dropped]


def set_constraints(constraints: Path, sdk_set: SdkSet) -> str:
    """The lock minus the packages the set pins (the set wins for those)."""
    try:
        text = constraints.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the constraints: {exc.strerror or exc}", source=constraints) from None
    return "".join(line + "\n" for line in _lines(text) if _requirement_name(line) not in sdk_set.pinned)


@dataclass(frozen=True, slots=True)
class EnvironmentResult:
    """The outcome of building a set's environment.

    ``python`` is the interpreter to run checks with, ``None`` when the set is not installable;
    ``reason`` is then pip's own words (its first ``ERROR:`` line). ``seconds`` is the time this
    call took (near zero when ``cached``).
    """

    sdk_set: SdkSet
    root: Path
    python: Path | None
    reason: str
    seconds: float
    cached: bool

    @property
    def installable(self) -> bool:
        return self.python is not None


def _digest(sdk_set: SdkSet, requirements: Sequence[str], constraints: str, python: Path) -> str:
    version = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=False
    ).stdout.strip()
    payload = json.dumps(
        {"set": list(sdk_set.requirements), "hil": list(requirements), "constraints": constraints, "python": version},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def environment_dir(sdk_set: SdkSet, digest: str) -> Path:
    return cache_dir("sdk-envs", f"{sdk_set.name}-{digest}")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder per environment at a time (a matrix run and a CI test may race)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pip_reason(output: str) -> str:
    """pip's first ``ERROR:`` line (without the list of every version it saw), plus the lines
    under "The conflict is caused by:" when the resolver gave up: those name the culprit."""
    lines = output.splitlines()
    reason = ""
    for line in lines:
        if line.startswith("ERROR:"):
            reason = re.sub(r"\s*\(from versions: [^)]*\)", "", line.removeprefix("ERROR:").strip())
            break
    if "The conflict is caused by:" in lines:
        causes = []
        for line in lines[lines.index("The conflict is caused by:") + 1:]:
            if not line.strip():
                break
            causes.append(line.strip())
        reason = f"{reason.rstrip('.')}: {'; '.join(causes)}"
    if not reason:
        tail = [line for line in lines if line.strip()]
        reason = tail[-1] if tail else "pip failed without a message"
    return reason[:400]


def build_environment(
    sdk_set: SdkSet, *, project_root: Path, python: Path | None = None, rebuild: bool = False
) -> EnvironmentResult:
    """The set's environment, built unless an identical one is cached. See the module docstring.

    Raises:
        ConfigError: the project files cannot be read, or ``venv`` itself fails (a machine
            problem, unlike a set that pip cannot install).
    """
    started = time.monotonic()
    base_python = python or Path(sys.executable)
    requirements = hil_requirements(project_root / "pyproject.toml", sdk_set)
    constraints = set_constraints(project_root / "constraints.txt", sdk_set)
    root = environment_dir(sdk_set, _digest(sdk_set, requirements, constraints, base_python))
    env_python = root / "bin" / "python"
    with _locked(root.with_name(root.name + ".lock")):
        if not rebuild and (root / _MARKER).is_file():
            return EnvironmentResult(sdk_set, root, env_python, "", time.monotonic() - started, cached=True)
        shutil.rmtree(root, ignore_errors=True)
        made = subprocess.run([str(base_python), "-m", "venv", str(root)], capture_output=True, text=True, check=False)
        if made.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise ConfigError(f"python -m venv failed: {pip_reason(made.stderr or made.stdout)}", source=root)
        (root / "constraints.txt").write_text(constraints)
        argv = [str(env_python), "-m", "pip", "install", "--disable-pip-version-check",
                "-c", str(root / "constraints.txt"), *sdk_set.requirements, *requirements]
        installed = subprocess.run(argv, capture_output=True, text=True, check=False)
        if installed.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            reason = pip_reason(installed.stderr + "\n" + installed.stdout)
            return EnvironmentResult(sdk_set, root, None, reason, time.monotonic() - started, cached=False)
        (root / _MARKER).write_text(json.dumps({"set": sdk_set.name, "requirements": list(sdk_set.requirements)}) + "\n")
    return EnvironmentResult(sdk_set, root, env_python, "", time.monotonic() - started, cached=False)


def run_environment(result: EnvironmentResult, project_root: Path) -> dict[str, str]:
    """The process environment for running checks with ``result.python`` from the checkout."""
    from hil.package_data import link_tree

    env = dict(os.environ)
    # hil is not installed in the set's environment: this checkout's hil is found through a tree
    # of links shaped like the installed package (the editable install's import hook belongs to
    # hil's own environment).
    tree = link_tree(result.root / "pythonpath")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH", "")]))
    env["HIL_SDK_SET"] = result.sdk_set.name
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the runner names its plugins (see hil.cli.matrix)
    env.pop("VIRTUAL_ENV", None)
    return env
