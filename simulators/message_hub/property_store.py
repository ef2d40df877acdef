"""The hub's persistent state: property values (both ownerships) and the cached node interfaces.

The real hub keeps both in its ``store_directory``: a SQLite property store (the Rust SDK's) and
an ``interfaces/`` folder with one JSON file per interface any node declared; the cached interfaces
are installed again when the hub restarts, before any node re-attaches. We keep the same split so
that a hub restart behaves the same: server properties can be pushed to a node that attaches
after the restart, and the device introspection survives.

Values are stored as the exact BSON payload (``{"v": ...}``) plus the Astarte type the value had,
so that a re-publish after a reconnect is byte-identical to the original message.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from hil.errors import ConfigError

__all__ = ["InterfaceCache", "PropertyStore", "StoredProperty"]


@dataclass(frozen=True)
class StoredProperty:
    interface: str
    path: str
    major: int
    ownership: str  # "device" | "server"
    value_type: str
    payload: bytes  # the BSON document as published/received


class PropertyStore:
    """Thread-safe SQLite store (gRPC worker threads and the MQTT network thread both write)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        """The database, ready; a file sqlite cannot use (not a database, unreadable) is one
        ConfigError naming it: the store directory is the user's, and may hold anything."""
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS properties (interface TEXT, path TEXT, major INTEGER, ownership TEXT,"
                " value_type TEXT, payload BLOB, PRIMARY KEY (interface, path))"
            )
        except sqlite3.DatabaseError as exc:  # OperationalError included: a directory, no permission
            if db is not None:
                db.close()
            raise ConfigError(f"cannot use it as the hub's property store: {exc}", source=path) from None
        return db

    def get(self, interface: str, path: str) -> StoredProperty | None:
        with self._lock:
            row = self._db.execute(
                "SELECT interface, path, major, ownership, value_type, payload FROM properties "
                "WHERE interface=? AND path=?",
                (interface, path),
            ).fetchone()
        return StoredProperty(*row) if row else None

    def put(self, prop: StoredProperty) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO properties VALUES (?, ?, ?, ?, ?, ?)",
                (prop.interface, prop.path, prop.major, prop.ownership, prop.value_type, prop.payload),
            )

    def delete(self, interface: str, path: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM properties WHERE interface=? AND path=?", (interface, path))

    def all(self, ownership: str | None = None) -> list[StoredProperty]:
        query = "SELECT interface, path, major, ownership, value_type, payload FROM properties"
        args: tuple[str, ...] = ()
        if ownership is not None:
            query += " WHERE ownership=?"
            args = (ownership,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY interface, path", args).fetchall()
        return [StoredProperty(*row) for row in rows]

    def delete_interface(self, interface: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM properties WHERE interface=?", (interface,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class InterfaceCache:
    """``<store>/interfaces/<name>.json``: the interfaces nodes declared, as the real hub caches them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def store(self, name: str, document: dict[str, object]) -> None:
        target = self.directory / f"{name}.json"
        staging = target.with_suffix(".json.tmp")
        staging.write_text(json.dumps(document))
        staging.replace(target)

    def remove(self, name: str) -> None:
        (self.directory / f"{name}.json").unlink(missing_ok=True)

    def load(self) -> dict[str, dict[str, object]]:
        """name -> document for every readable cached interface (unreadable files are skipped)."""
        found: dict[str, dict[str, object]] = {}
        for path in sorted(self.directory.glob("*.json")):
            try:
                document = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(document, dict):
                found[path.stem] = document
        return found
