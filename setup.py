"""Build glue for one thing pyproject.toml cannot say: the repository keeps its top-level
folders (``harness/``, ``simulators/``, ``fixtures/``, ``interfaces/``, ``tests/conformance/``),
and all of them install under the one import name ``hil``. Declarative package discovery finds
packages under their folder names, so the mapping and the package list are computed here;
everything else is in pyproject.toml."""

from setuptools import find_packages, setup

LAYOUT = {
    "hil": "harness",  # the engine is the top of the package
    "hil.simulators": "simulators",
    "hil.fixtures": "fixtures",
    "hil.interfaces": "interfaces",  # data: Astarte interface files the checks use
    "hil.conformance": "tests/conformance",  # the conformance checks `hil run` runs
}


def packages() -> list[str]:
    names: list[str] = []
    for name, folder in LAYOUT.items():
        names.append(name)
        names += [f"{name}.{sub}" for sub in find_packages(folder)]
    return names


setup(package_dir=LAYOUT, packages=packages())
