"""Generate the message hub's Python gRPC modules from the protos the installed SDK speaks.

Why generate at all, when the ``astarte-message-hub-proto`` wheel already ships ``_pb2`` modules:
the hub simulator must be *built from the protos* of exactly the version the installed SDK pins
(0.7.0 for astarte-device-sdk 0.14.0; later versions are not wire-compatible), and its code must
not depend on the wheel's generated files, which belong to the system under test. The wheel
carries no ``.proto`` text, but every ``_pb2`` module embeds its ``FileDescriptorProto``; collected
into a ``FileDescriptorSet`` (dependencies first) they are what ``protoc --descriptor_set_in``
needs. A user may instead point ``--proto-dir`` at a folder of ``.proto`` sources.

Output: ``<hil cache>/msghub/msghub-<proto version>/`` (see :func:`hil.package_data.cache_dir`; never the
checkout's ``build/`` nor site-packages, so SDK sets with different proto versions, each in its own
environment, share one checkout without overwriting each other's modules) with ``astarteplatform/msghub/*_pb2*.py``
plus ``__init__.py`` files, so that the generated ``astarteplatform`` is a *regular* package and
always wins over the wheel's namespace package when the folder is first on ``sys.path``. A stamp
file records the proto version and the grpcio-tools version; a matching stamp makes a second run
a no-op (a few milliseconds, no import of the wheel).

Reading the wheel's descriptors imports its modules, which registers their file names in the
protobuf descriptor pool; the generated modules register the same names. The two must never
meet in one process, so :func:`ensure_generated` runs the generation in a child process, and the
hub itself imports only the generated modules.

Run: ``python -m hil.simulators.message_hub.protogen [--proto-dir DIR] [--out DIR] [--force]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from hil.errors import ConfigError
from hil.package_data import cache_dir

if TYPE_CHECKING:
    from google.protobuf.descriptor import FileDescriptor

__all__ = [
    "PROTO_DISTRIBUTION",
    "GeneratedProtos",
    "default_build_root",
    "ensure_generated",
    "generate",
    "installed_proto_version",
]

PROTO_DISTRIBUTION = "astarte-message-hub-proto"
PROTO_PACKAGE = "astarteplatform.msghub"
STAMP_NAME = "hil-protogen.json"


@dataclass(frozen=True)
class GeneratedProtos:
    """Where the generated modules are and what they were built from."""

    root: Path  # put this first on sys.path
    proto_version: str
    source: str  # "installed-descriptors" or the --proto-dir path

    @property
    def package_dir(self) -> Path:
        return self.root / "astarteplatform" / "msghub"


def default_build_root() -> Path:
    """``<hil cache>/msghub``: one folder per proto version below it (see the module docstring)."""
    return cache_dir("msghub")


def installed_proto_version() -> str:
    """The installed proto package version, read from its metadata (nothing is imported)."""
    try:
        return version(PROTO_DISTRIBUTION)
    except PackageNotFoundError:
        raise ConfigError(
            f"{PROTO_DISTRIBUTION} is not installed (it comes with astarte-device-sdk); "
            "or pass --proto-dir with the .proto sources"
        ) from None


def _tools_version() -> str:
    try:
        return version("grpcio-tools")
    except PackageNotFoundError:
        raise ConfigError("grpcio-tools is not installed (run scripts/setup)") from None


def _stamp(proto_version: str, source: str) -> dict[str, str]:
    return {"proto_version": proto_version, "grpcio_tools": _tools_version(), "source": source}


def _read_stamp(out: Path) -> dict[str, str] | None:
    try:
        data = json.loads((out / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def output_dir(build_root: Path, proto_version: str) -> Path:
    return build_root / f"msghub-{proto_version}"


def ensure_generated(*, build_root: Path | None = None, proto_dir: Path | None = None) -> GeneratedProtos:
    """The generated modules for the installed proto version (or ``proto_dir``), built if needed.

    Generation from installed descriptors happens in a child process (see the module docstring),
    so calling this never imports the wheel's modules into the caller.
    """
    build_root = build_root or default_build_root()
    if proto_dir is not None:
        proto_version = f"dir-{_dir_fingerprint(proto_dir)}"
        source = str(proto_dir.resolve())
    else:
        proto_version = installed_proto_version()
        source = "installed-descriptors"
    out = output_dir(build_root, proto_version)
    if _read_stamp(out) == _stamp(proto_version, source):
        return GeneratedProtos(out, proto_version, source)
    argv = [sys.executable, "-m", "hil.simulators.message_hub.protogen", "--out-root", str(build_root)]
    if proto_dir is not None:
        argv += ["--proto-dir", str(proto_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"could not generate the message hub modules: {detail}")
    return GeneratedProtos(out, proto_version, source)


def _dir_fingerprint(proto_dir: Path) -> str:
    import hashlib

    if not proto_dir.is_dir():
        raise ConfigError(f"--proto-dir {proto_dir} is not a directory")
    digest = hashlib.sha256()
    for path in sorted(proto_dir.rglob("*.proto")):
        digest.update(str(path.relative_to(proto_dir)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


# -- generation (runs in its own process) -------------------------------------------------------


def _installed_descriptor_set() -> tuple[bytes, list[str]]:
    """A serialized FileDescriptorSet of the installed package (dependencies first) + its files."""
    from google.protobuf import descriptor_pb2

    package = importlib.import_module(PROTO_PACKAGE)
    modules = sorted(
        info.name for info in pkgutil.iter_modules(package.__path__) if info.name.endswith("_pb2")
    )
    if not modules:
        raise ConfigError(f"{PROTO_PACKAGE} has no _pb2 modules to read descriptors from")
    ordered: list[FileDescriptor] = []
    seen: set[str] = set()

    def visit(file_descriptor: FileDescriptor) -> None:
        name = file_descriptor.name
        if name in seen:
            return
        seen.add(name)
        for dependency in file_descriptor.dependencies:
            visit(dependency)
        ordered.append(file_descriptor)

    targets: list[str] = []
    for module_name in modules:
        descriptor = importlib.import_module(f"{PROTO_PACKAGE}.{module_name}").DESCRIPTOR
        targets.append(descriptor.name)
        visit(descriptor)
    file_set = descriptor_pb2.FileDescriptorSet()
    for file_descriptor in ordered:
        proto = file_set.file.add()
        file_descriptor.CopyToProto(proto)
    return file_set.SerializeToString(), targets


def _protoc(args: list[str]) -> None:
    from grpc_tools import protoc

    include = str(Path(protoc.__file__).parent / "_proto")  # the well-known types
    status = protoc.main(["protoc", f"-I{include}", *args])
    if status != 0:
        raise ConfigError(f"protoc failed with status {status} (arguments: {' '.join(args)})")


def generate(*, build_root: Path, proto_dir: Path | None = None, force: bool = False) -> GeneratedProtos:
    """Generate into ``build_root/msghub-<version>/`` unless an up-to-date stamp is there."""
    if proto_dir is not None:
        proto_version, source = f"dir-{_dir_fingerprint(proto_dir)}", str(proto_dir.resolve())
    else:
        proto_version, source = installed_proto_version(), "installed-descriptors"
    out = output_dir(build_root, proto_version)
    stamp = _stamp(proto_version, source)
    if not force and _read_stamp(out) == stamp:
        return GeneratedProtos(out, proto_version, source)
    build_root.mkdir(parents=True, exist_ok=True)
    # Build next to the final folder and swap it in, so a concurrent reader never sees half.
    staging = Path(tempfile.mkdtemp(prefix=f".msghub-{proto_version}-", dir=build_root))
    try:
        outputs = [f"--python_out={staging}", f"--grpc_python_out={staging}", f"--pyi_out={staging}"]
        if proto_dir is not None:
            files = [str(p.relative_to(proto_dir)) for p in sorted(proto_dir.rglob("*.proto"))]
            if not files:
                raise ConfigError(f"--proto-dir {proto_dir} holds no .proto files")
            _protoc([f"-I{proto_dir}", *outputs, *files])
        else:
            descriptor_set, files = _installed_descriptor_set()
            set_path = staging / "descriptors.pb"
            set_path.write_bytes(descriptor_set)
            _protoc([f"--descriptor_set_in={set_path}", *outputs, *files])
            set_path.unlink()
        package_dir = staging / "astarteplatform" / "msghub"
        if not (package_dir / "message_hub_service_pb2_grpc.py").exists():
            raise ConfigError("the protos define no astarteplatform.msghub MessageHub service")
        for folder in (staging / "astarteplatform", package_dir):
            (folder / "__init__.py").write_text('"""Generated by hil.simulators.message_hub.protogen."""\n')
        (staging / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n")
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=".retired-", dir=build_root))
            out.rename(retired / out.name)
            staging.rename(out)
            _remove_tree(retired)
        else:
            staging.rename(out)
    except BaseException:
        _remove_tree(staging)
        raise
    return GeneratedProtos(out, proto_version, source)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hil.simulators.message_hub.protogen", description=__doc__.splitlines()[0])
    parser.add_argument("--proto-dir", type=Path, default=None, help="use these .proto sources instead of the installed package")
    parser.add_argument("--out-root", type=Path, default=None, help="build folder (default: <hil cache>/msghub)")
    parser.add_argument("--force", action="store_true", help="regenerate even when the stamp is current")
    args = parser.parse_args(argv)
    try:
        result = generate(build_root=args.out_root or default_build_root(), proto_dir=args.proto_dir, force=args.force)
    except ConfigError as exc:
        print(f"protogen: {exc}", file=sys.stderr)
        return 2
    print(f"message hub protos {result.proto_version} -> {result.root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
