"""hil's container images: built on this machine from Debian packages, never pulled.

Two images, each tagged by a hash of its inputs and built only when no image has that tag:

* ``hil/broker:<hash>``: a Debian root made by ``debootstrap --variant=minbase`` with
  Debian's ``mosquitto`` and the shared libraries the project's interpreter links against,
  loaded with ``docker import``. Inputs: suite, variant and package list. (No registry is
  reachable on the machines hil runs on; Debian's mirror, a package registry, is.)
* ``hil/simulators:<hash>``: the broker image plus the project's interpreter (the pyenv prefix
  ``.venv`` points to, at the same path, without its test suite and static library) and the
  virtual environment at :data:`IMAGE_VENV`. The checkout is not in the image: the backend
  mounts its sources read-only and puts a tree of links to them first on ``PYTHONPATH``
  (:func:`hil.package_data.link_tree`), and runs the argv a spec
  builds with the image's interpreter in place of ``sys.executable``. So neither a code change
  nor a fresh clone elsewhere rebuilds it. Inputs: the broker image, the interpreter's path and
  version, and every installed distribution with its version.

The images live in the engine (for the private engine: in its data root under hil's cache), so
a fresh clone on the same machine finds them; a fresh machine builds them once (figures in
``benchmarks/results/``). A user may name images of their own instead: ``HIL_BROKER_IMAGE``
(for example ``eclipse-mosquitto:2`` where a registry is reachable) and ``HIL_SIMULATORS_IMAGE``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Any

from hil.errors import ServiceError
from hil.services.engine import Engine, cache_dir

__all__ = ["BROKER_IMAGE", "IMAGE_PYTHON", "PROJECT_ROOT", "SIMULATORS_IMAGE", "resolve_image"]

BROKER_IMAGE = "hil/broker"
SIMULATORS_IMAGE = "hil/simulators"
OVERRIDES = {BROKER_IMAGE: "HIL_BROKER_IMAGE", SIMULATORS_IMAGE: "HIL_SIMULATORS_IMAGE"}
PROJECT_ROOT = Path(__file__).resolve().parents[2]
IMAGE_VENV = Path("/opt/hil/venv")
IMAGE_PYTHON = IMAGE_VENV / "bin" / "python"

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# mosquitto for the broker; the rest are what the pyenv interpreter and its extension modules
# link against (ldd of python and lib-dynload), which minbase lacks.
PACKAGES = ("mosquitto", "libssl3", "libffi8", "libsqlite3-0", "libbz2-1.0", "liblzma5", "libreadline8",
            "libncursesw6", "libuuid1", "zlib1g", "libexpat1", "libcrypt1", "ca-certificates")
# Parts of the interpreter the simulators never use: about half of its size.
PYTHON_SKIP = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3")

_lock = threading.Lock()


def resolve_image(name: str, engine: Engine) -> str:
    """The image to run for ``name``: a user's override, an image of hil's (built if needed), or
    ``name`` itself when it is neither."""
    override = os.environ.get(OVERRIDES.get(name, ""), "")
    if override:
        return override
    if name not in OVERRIDES:
        return name
    with _lock:
        client = engine.client(timeout=600)
        try:
            broker = _ensure(client, BROKER_IMAGE, _broker_inputs(), _build_broker)
            if name == BROKER_IMAGE:
                return broker
            return _ensure(client, SIMULATORS_IMAGE, _simulators_inputs(broker),
                           lambda c, tag: _build_simulators(c, tag, broker))
        finally:
            client.close()


def _tag(name: str, inputs: str) -> str:
    return f"{name}:{hashlib.sha256(inputs.encode()).hexdigest()[:16]}"


def _ensure(client: Any, name: str, inputs: str, build: Any) -> str:
    import docker.errors

    tag = _tag(name, inputs)
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        build(client, tag)
    return tag


def _broker_inputs() -> str:
    return f"debootstrap minbase {SUITE} {','.join(sorted(PACKAGES))}"


def _build_broker(client: Any, tag: str) -> None:
    debootstrap = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin")
    if debootstrap is None:
        raise ServiceError("images", "debootstrap is not installed (run scripts/setup: it installs it)")
    work = cache_dir() / "images"
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="root-", dir=work) as root:
        try:
            done = subprocess.run(
                [debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, root, MIRROR],
                capture_output=True, text=True, check=False)
        finally:
            _unmount_below(Path(root))
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise ServiceError("images", f"debootstrap of the broker image failed: {last[0]}")
        _import(client, Path(root), tag)


def _unmount_below(root: Path) -> None:
    """Unmount what an interrupted debootstrap left mounted in ``root`` (its /proc, /sys), deepest
    first, so that removing the root never reaches into the host's."""
    prefix = f"{root}/"
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _import(client: Any, root: Path, tag: str) -> None:
    """``tar -C root -c . | docker import``, streamed, without the apt caches."""
    reader, writer = os.pipe()

    def produce() -> None:
        with os.fdopen(writer, "wb") as sink, tarfile.open(fileobj=sink, mode="w|") as archive:
            for entry in sorted(root.iterdir()):
                archive.add(entry, arcname=entry.name, filter=_without_caches)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    with os.fdopen(reader, "rb") as source:
        repository, _, version = tag.partition(":")
        client.api.import_image_from_stream(source, repository=repository, tag=version,
                                            changes=['LABEL hil.image="1"'])
    producer.join()


def _without_caches(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if info.name.startswith(("var/cache/apt/archives/", "var/lib/apt/lists/")) and info.isfile():
        return None
    return info


def _python_prefix() -> Path:
    return Path(sys.base_prefix).resolve()


def _simulators_inputs(broker: str) -> str:
    # Only what the virtual environment holds, not whatever this process has on sys.path (an
    # SDK set under test, say): the same .venv must always give the same tag.
    venv_paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    distributions = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions(path=venv_paths))
    return "\n".join([broker, str(_python_prefix()), sys.version, *distributions])


def _python_filter(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Leave out the parts of the interpreter that no simulator uses (``python/lib/pythonX.Y/test``...)."""
    parts = info.name.split("/")
    if len(parts) > 3 and parts[1] == "lib" and parts[2].startswith("python") and parts[3] in PYTHON_SKIP:
        return None
    if info.name.endswith(".a") or (len(parts) > 1 and parts[1] in ("include", "share")):
        return None
    return info


def _build_simulators(client: Any, tag: str, broker: str) -> None:
    """``FROM broker`` + the interpreter and the virtual environment, through the build API."""
    prefix, venv = _python_prefix(), Path(sys.prefix)
    dockerfile = (f"FROM {broker}\n"
                  f"COPY python/ {prefix}/\n"
                  f"COPY venv/ {IMAGE_VENV}/\n"
                  'LABEL hil.image="1"\n').encode()
    with tempfile.TemporaryFile(dir=cache_dir()) as context:
        with tarfile.open(fileobj=context, mode="w") as archive:
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(dockerfile)
            archive.addfile(info, io.BytesIO(dockerfile))
            archive.add(prefix, arcname="python", filter=_python_filter)
            archive.add(venv, arcname="venv")
        context.seek(0)
        try:
            client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True,
                                pull=False, network_mode="none")
        except Exception as exc:  # the build API raises BuildError/APIError with the builder's words  # noqa: BLE001
            raise ServiceError("images", f"building {tag} failed: {exc}") from None
