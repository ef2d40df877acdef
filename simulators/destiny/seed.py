"""Seed files: the scene a standalone simulator (``hil up``) starts with.

JSON, all keys optional::

    {
      "robots": [{"name": "r1", "client_id": "<uuid4|7>", "secret": "s3cr3t"}],
      "references": [{"id": "<uuid>", "title": "anything else is served verbatim"}],
      "enhancement_requests": [{"robot_id": "<uuid>", "reference_ids": ["<uuid>"]},
                               {"robot_id": "<uuid>", "count": 5}]
    }
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from hil.errors import ConfigError
from hil.simulators.destiny.control_api import EnhancementRequestSeed, ReferenceSeed, RobotSeed, seed_enhancement_request
from hil.simulators.destiny.store import Store

__all__ = ["SeedFile", "load_seed_file"]


class SeedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    robots: list[RobotSeed] = []
    references: list[ReferenceSeed] = []
    enhancement_requests: list[EnhancementRequestSeed] = []


def load_seed_file(path: Path, store: Store) -> SeedFile:
    """Read ``path`` into ``store``.

    Raises:
        ConfigError: one line naming the file and the first problem.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        seed = SeedFile.model_validate(data)
    except OSError as exc:
        raise ConfigError(f"cannot read seed file: {exc.strerror}", source=path) from None
    except ValueError as exc:  # JSONDecodeError and pydantic's ValidationError are both ValueErrors
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{where}: {first['msg']}", source=path) from None
        raise ConfigError(f"not valid JSON: {exc}", source=path) from None
    for robot in seed.robots:
        store.add_robot(robot.name, robot.client_id, robot.secret)
    for reference in seed.references:
        store.add_reference(reference.model_dump(mode="json", exclude_none=True))
    for request in seed.enhancement_requests:
        seed_enhancement_request(store, request)
    return seed
