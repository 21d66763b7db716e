"""The state file: one SQLite database (WAL) holding the latest snapshot.

A snapshot is a set of named parts (``moto``, one per moto backend and DynamoDB
table, ``mappings``, ...), each a row with its SHA-256. A commit replaces the rows
of the parts that changed, deletes those that are gone and keeps the others, in one
transaction, so a reader sees the whole of one snapshot or the whole of the previous
one, never a mix, even after a crash or a power loss (``synchronous=FULL``). Each
row says which commit wrote it (``version``). ``meta`` says which format and which
versions of moto and Python wrote it: pickled moto objects only load into the same
moto.
"""

from __future__ import annotations

import hashlib
import platform
import sqlite3
import time
import zlib
from collections.abc import Iterable
from pathlib import Path

from moto import __version__ as MOTO_VERSION  # noqa: N812

FORMAT = 2
FILE_NAME = "state.sqlite3"
_PYTHON = ".".join(platform.python_version_tuple()[:2])


class SavedStateError(Exception):
    """The saved state cannot be used (the state directory's fault, not a bug).

    The message says what is wrong and how to start empty.
    """


class SavedStateVersionError(SavedStateError):
    """The state was written by another version of the endpoint."""


class SavedStateCorruptError(SavedStateError):
    """The state file is damaged or incomplete."""


def how_to_start_empty(directory: Path) -> str:
    """The advice every refusal ends with."""
    return (f"To start empty, run `python -m localaws reset` (or `make reset`), which "
            f"deletes {directory}; or start with `--ephemeral` to keep no state.")


class StateStore:
    """The latest snapshot in ``<directory>/state.sqlite3``.

    Parameters
    ----------
    directory : Path
        The state directory (created if missing).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME
        self._db: sqlite3.Connection | None = None
        self._names: set[str] = set()  # the parts stored now (once connected)
        self._version = 0  # the last commit's number

    # -- reading ----------------------------------------------------------------------
    def read(self) -> dict[str, bytes] | None:
        """The parts of the saved snapshot; ``None`` when nothing was ever saved.

        Raises
        ------
        SavedStateVersionError
            Written by another format, moto or Python version.
        SavedStateCorruptError
            Not a database, missing tables, missing parts or a checksum mismatch.
        """
        if not self.path.exists():
            if any(self.directory.glob(FILE_NAME + "*")):
                raise self._corrupt("the database file is missing but its journal is there")
            return None
        try:
            db = sqlite3.connect(self.path)  # read-write: recovers a crashed WAL
            try:
                meta = dict(db.execute("SELECT key, value FROM meta"))
                rows = db.execute("SELECT name, data, sha256, compressed FROM parts").fetchall()
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise self._corrupt(f"SQLite says: {exc}") from None
        written = (meta.get("format"), meta.get("moto"), meta.get("python"))
        if written != (str(FORMAT), MOTO_VERSION, _PYTHON):
            raise SavedStateVersionError(
                f"The saved state in {self.directory} was written by another version of "
                f"the local endpoint (state format {written[0]}, moto {written[1]}, Python "
                f"{written[2]}); this one reads state format {FORMAT} written with moto "
                f"{MOTO_VERSION} and Python {_PYTHON}. " + how_to_start_empty(self.directory))
        expected = set(filter(None, meta.get("parts", "").split(",")))
        parts: dict[str, bytes] = {}
        for name, data, sha, compressed in rows:
            if hashlib.sha256(data).hexdigest() != sha:
                raise self._corrupt(f"part {name!r} fails its checksum")
            try:
                parts[name] = zlib.decompress(data) if compressed else data
            except zlib.error as exc:
                raise self._corrupt(f"part {name!r} cannot be decompressed ({exc})") from None
        if not expected or set(parts) != expected:
            raise self._corrupt(f"expected parts {sorted(expected)}, found {sorted(parts)}")
        return parts

    def _corrupt(self, why: str) -> SavedStateCorruptError:
        return SavedStateCorruptError(
            f"The saved state in {self.path} is damaged ({why}). "
            + how_to_start_empty(self.directory))

    # -- writing ----------------------------------------------------------------------
    def write(self, parts: dict[str, bytes], *, compress: bool = True) -> int:
        """Replace the saved snapshot with ``parts`` atomically; returns the bytes written."""
        if compress:
            return self.write_compressed({name: zlib.compress(raw, 1)
                                          for name, raw in parts.items()})
        return self.commit(parts, parts, compressed=False)

    def write_compressed(self, parts: dict[str, bytes]) -> int:
        """:meth:`write` for parts already compressed with ``zlib``; returns the bytes written."""
        return self.commit(parts, parts)

    def commit(self, changed: dict[str, bytes], names: Iterable[str], *,
               compressed: bool = True) -> int:
        """One snapshot, atomically: the parts ``names``, of which ``changed`` are new bytes.

        Parts in ``names`` but not in ``changed`` keep their stored rows (unchanged
        since); stored parts not in ``names`` are deleted.

        Returns
        -------
        int
            The bytes written (of ``changed``).

        Raises
        ------
        ValueError
            A part in ``names`` is neither changed nor stored (a bug of the caller's).
        """
        db = self._connection()
        names = set(names)
        missing = names - set(changed) - self._names
        if missing:
            raise ValueError(f"parts neither changed nor stored: {sorted(missing)[:5]}")
        version = self._version + 1
        rows = [(name, data, hashlib.sha256(data).hexdigest(), int(compressed), version)
                for name, data in changed.items()]
        with db:  # one transaction
            db.executemany("DELETE FROM parts WHERE name = ?",
                           [(name,) for name in self._names - names])
            db.executemany("INSERT OR REPLACE INTO parts (name, data, sha256, compressed, "
                           "version) VALUES (?, ?, ?, ?, ?)", rows)
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [
                ("format", str(FORMAT)), ("moto", MOTO_VERSION), ("python", _PYTHON),
                ("parts", ",".join(sorted(names))), ("version", str(version)),
                ("written_at", repr(time.time()))])
        self._names, self._version = names, version
        return sum(len(data) for data in changed.values())

    def versions(self) -> dict[str, tuple[int, str]]:
        """Each stored part's ``(version, sha256)``: which commit wrote it, and its digest."""
        rows = self._connection().execute("SELECT name, version, sha256 FROM parts")
        return {name: (version, sha) for name, version, sha in rows}

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS parts (name TEXT PRIMARY KEY, data BLOB "
                       "NOT NULL, sha256 TEXT NOT NULL, compressed INTEGER NOT NULL, "
                       "version INTEGER NOT NULL)")
            db.isolation_level = ""  # transactions again, for ``with db``
            self._names = {name for (name,) in db.execute("SELECT name FROM parts")}
            row = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            self._version = int(row[0]) if row else 0
            self._db = db
        return self._db

    def close(self) -> None:
        """Checkpoint the WAL into the database file and close it."""
        if self._db is not None:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()
                self._db = None

