"""``hil doctor``: what this machine has and lacks, in plain words, with how to fix it."""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hil.mqtt.broker import mosquitto_binary
from hil.services.engine import docker_unavailable_reason, engine_choice

SDK_SET = Path("sdk-sets/current.txt")


@dataclass(frozen=True)
class Finding:
    ok: bool
    required: bool
    what: str
    detail: str

    def line(self) -> str:
        mark = "ok     " if self.ok else ("MISSING" if self.required else "absent ")
        return f"{mark}  {self.what}: {self.detail}"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("doctor", help="say what is missing on this machine")
    parser.set_defaults(func=run)


def _python() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info[:2] == (3, 12)
    return Finding(ok, True, "Python 3.12", f"running {version}" + ("" if ok else " (run scripts/setup: it builds .venv from pyenv's 3.12)"))


def _mosquitto() -> Finding:
    binary = mosquitto_binary()
    if binary is None:
        return Finding(False, True, "mosquitto", "not installed; run scripts/setup or: apt-get install mosquitto")
    out = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=10).stdout
    match = re.search(r"mosquitto version (\S+)", out)
    return Finding(True, True, "mosquitto", f"{match.group(1) if match else 'unknown version'} at {binary}")


def _setpriv() -> Finding:
    binary = shutil.which("setpriv")
    if binary is None:
        return Finding(False, True, "setpriv (util-linux)",
                       "not found: services could outlive a killed test run; apt-get install util-linux")
    return Finding(True, True, "setpriv (util-linux)", f"{binary}: services die with their owner")


def _docker() -> Finding:
    """Which engine the container backend would use, and why (it starts nothing)."""
    engine, why = engine_choice()
    if engine is not None:
        return Finding(True, False, "Docker engine", f"uses {engine.url}: {engine.why}")
    if docker_unavailable_reason() is None:
        return Finding(True, False, "Docker engine", why)
    return Finding(False, False, "Docker engine", f"{why}; the container backend is unavailable (optional)")


def _sdks() -> list[Finding]:
    pins: dict[str, str] = {}
    if SDK_SET.is_file():
        for raw in SDK_SET.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                pins[name.strip()] = version.strip()
    names = pins or {"astarte-device-sdk": "", "destiny-sdk": "", "aiolocknalert": ""}
    findings = []
    for name, pinned in names.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            findings.append(Finding(False, True, name, "not installed; run scripts/setup"))
            continue
        if pinned and installed != pinned:
            findings.append(Finding(False, True, name, f"{installed} installed but {SDK_SET} pins {pinned}; run scripts/setup"))
        else:
            findings.append(Finding(True, True, name, installed))
    return findings


def _package_data() -> Finding:
    """hil's shipped data: a wheel without it installs fine and then fails in every simulator."""
    from hil.package_data import catalog_dir, conformance_dir, interfaces_dir

    try:
        counts = {"interface files": len(list(interfaces_dir().glob("*.json"))),
                  "conformance checks": len(list(conformance_dir().glob("test_*.py"))),
                  "requirement catalogs": len(list(catalog_dir().glob("*.toml")))}
    except (ModuleNotFoundError, OSError) as exc:
        return Finding(False, True, "hil's package data", f"unreadable ({exc}); reinstall hil")
    empty = [name for name, count in counts.items() if count == 0]
    detail = ", ".join(f"{count} {name}" for name, count in counts.items())
    return Finding(not empty, True, "hil's package data",
                   detail if not empty else f"{detail}: no {', '.join(empty)} (a broken install; reinstall hil)")


def run(args: argparse.Namespace) -> int:
    findings = [_python(), _mosquitto(), _setpriv(), _package_data(), *_sdks(), _docker()]
    for finding in findings:
        print(finding.line())
    missing = [f for f in findings if f.required and not f.ok]
    print("hil doctor: " + ("everything hil needs is here" if not missing else f"{len(missing)} required item(s) missing"))
    return 1 if missing else 0
