"""Every trial of a search, and the controller's state, in one SQLite file of the run directory.

``trials.sqlite`` is the search's memory; everything else (metrics, figures, ``nas show``) is
drawn from it. It is written so that a search killed at any moment (``kill -9``, a power cut
aside) loses nothing it finished:

- WAL journal with ``synchronous=FULL``: each commit is on disk when it returns, and readers
  (``rlgen nas show`` while the search runs) never block the writer nor see half a transaction;
- each trial's result is committed the moment it comes back from its worker;
- a batch's proposals are committed together with the controller state right after sampling
  them, and its update together with the state right after it: the stored state always matches
  the stored trials, so ``--resume`` reruns only the interrupted trials (pending or running),
  never a finished or failed one, and the controller continues with its RNG where it was;
- SQL is parameterised throughout (no value is ever formatted into a statement).

Tables: ``meta`` (key, value: what was searched), ``trials`` (one row per trial, below),
``controller`` (one row: batches done, state as ``torch.save`` bytes, loaded with
``weights_only=True``) and ``updates`` (one row per controller update: its metrics as JSON).

A file that is not such a store, or one damaged (SQLite's errors, rows that do not decode, a
stored search space this version does not know) is a one-line :class:`UserError` naming it.
"""

from __future__ import annotations

import functools
import io
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from rlgen.errors import UserError
from rlgen.files import to_jsonable

if TYPE_CHECKING:
    from rlgen.nas.spaces import SearchSpace

P = ParamSpec("P")
R = TypeVar("R")

FILE = "trials.sqlite"
SCHEMA_VERSION = "1"
STATUSES = ("pending", "running", "finished", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,               -- trial number, from 0, in proposal order
    batch INTEGER NOT NULL,               -- the controller batch it was proposed in
    architecture TEXT NOT NULL,           -- JSON list of option indices
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'finished', 'failed')),
    reward REAL,
    accuracy REAL,
    metrics TEXT,                         -- JSON object: cost, timings, device, ...
    worker TEXT,                          -- where it ran: pid, Ray node
    queued REAL,                          -- time.time() when submitted
    started REAL,
    finished REAL,
    seconds REAL,                         -- finished - started
    error TEXT,                           -- one line, for failed trials
    traceback TEXT,
    attempts INTEGER NOT NULL DEFAULT 0   -- times it was submitted (reruns after a resume)
);
CREATE INDEX IF NOT EXISTS trials_batch ON trials (batch);
CREATE TABLE IF NOT EXISTS controller (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    batches INTEGER NOT NULL,             -- batches whose update is done
    state BLOB NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS updates (
    batch INTEGER PRIMARY KEY,
    metrics TEXT NOT NULL,
    time REAL NOT NULL
);
"""


class IncompleteStore(UserError):
    """A trial store a kill left half created: no meta, no trial (``--resume`` starts afresh)."""


@dataclass(frozen=True)
class Trial:
    """One row of the ``trials`` table."""

    id: int
    batch: int
    architecture: tuple[int, ...]
    status: str
    reward: float | None
    accuracy: float | None
    metrics: dict[str, Any]
    worker: str | None
    queued: float | None
    started: float | None
    finished: float | None
    seconds: float | None
    error: str | None
    traceback: str | None
    attempts: int

    @property
    def done(self) -> bool:
        """Finished or failed: never run again."""
        return self.status in ("finished", "failed")


_COLUMNS = (
    "id, batch, architecture, status, reward, accuracy, metrics, worker, queued, started, "
    "finished, seconds, error, traceback, attempts"
)


_TABLES = {
    "meta": ("key", "value"),
    "trials": tuple(c.strip() for c in _COLUMNS.split(",")),
    "controller": ("id", "batches", "state", "updated"),
    "updates": ("batch", "metrics", "time"),
}
"""The tables and columns a store of this version has."""


NUMERIC_METRICS = ("macs", "flops", "params", "latency_ms", "train_seconds", "train_loss")
"""a trial's metrics that are numbers (or null) wherever they are stored"""


class _BadRow(Exception):
    """A stored value that does not decode (turned into a :class:`UserError` naming the file)."""


def _json(text: Any, what: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise _BadRow(f"{what} is not valid JSON ({str(text)[:80]!r})") from None


def _trial(row: Sequence[Any]) -> Trial:
    values = list(row)
    arch = _json(values[2], f"trial {values[0]}'s architecture")
    if not isinstance(arch, list) or any(type(c) is not int for c in arch):
        raise _BadRow(f"trial {values[0]}'s architecture is not a list of choices: {arch!r:.80}")
    values[2] = tuple(arch)
    values[6] = _json(values[6], f"trial {values[0]}'s metrics") if values[6] else {}
    if not isinstance(values[6], dict):
        raise _BadRow(f"trial {values[0]}'s metrics are not a JSON object")
    for key in NUMERIC_METRICS:  # what summaries, metrics.csv and figures read as numbers
        value = values[6].get(key)
        if value is not None and type(value) not in (int, float):
            raise _BadRow(f"trial {values[0]}'s metric {key} is {value!r:.40}")
    for i in (4, 5, 8, 9, 10, 11):  # reward, accuracy and the times: numbers or NULL
        if values[i] is not None and type(values[i]) not in (int, float):
            raise _BadRow(f"trial {values[0]}'s {_TABLES['trials'][i]} is {values[i]!r:.40}")
    return Trial(*values)


def _guarded(
    method: Callable[Concatenate[TrialStore, P], R],
) -> Callable[Concatenate[TrialStore, P], R]:
    """``method`` with SQLite's errors and undecodable rows as one-line :class:`UserError` s."""

    @functools.wraps(method)
    def guarded(self: TrialStore, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as e:
            raise UserError(f"{self.path}: the trial store failed ({e})") from None
        except _BadRow as e:
            raise UserError(f"{self.path}: a damaged trial store: {e}") from None

    return guarded


class TrialStore:
    """The SQLite trial store of one run directory.

    Open it with :meth:`create` (a new search), :meth:`open` (``--resume``: the same file, read
    and write) or :meth:`reader` (``nas show``: read-only, safe while a search writes).
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def create(cls, run_dir: str | Path, meta: Mapping[str, Any]) -> TrialStore:
        """A new store in ``run_dir`` holding ``meta`` (values stored as JSON)."""
        path = Path(run_dir) / FILE
        if path.exists():
            raise UserError(f"{path}: a trial store is already here; --resume continues it")
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, _connect(path))
        store._db.executescript(_SCHEMA)
        with store._transaction():
            rows = [("schema", SCHEMA_VERSION)]
            rows += [(k, json.dumps(to_jsonable(v))) for k, v in meta.items()]
            store._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", rows)
        return store

    @classmethod
    def open(cls, run_dir: str | Path) -> TrialStore:
        """The store of an existing search, for writing (``--resume``)."""
        path = Path(run_dir) / FILE
        if not path.is_file():
            raise UserError(f"{run_dir}: no {FILE} here (is it a nas search run directory?)")
        return cls(path, _connect(path))._checked()

    @classmethod
    def resume(cls, run_dir: str | Path, meta: Mapping[str, Any]) -> TrialStore:
        """The store of a search to continue (``--resume``); where a kill left none, or left it
        half created (a file without its tables or meta, so no trial was ever stored), a new
        one holding ``meta``: the search starts afresh in its directory."""
        path = Path(run_dir) / FILE
        if path.is_file():
            try:
                return cls.open(run_dir)
            except IncompleteStore:
                for leftover in (path, *(path.with_name(FILE + end) for end in ("-wal", "-shm"))):
                    leftover.unlink(missing_ok=True)
        return cls.create(run_dir, meta)

    @classmethod
    def reader(cls, run_dir: str | Path) -> TrialStore:
        """The store of a search, read-only (safe while the search is running)."""
        path = Path(run_dir) / FILE
        if not path.is_file():
            raise UserError(f"{run_dir}: no {FILE} here (is it a nas search run directory?)")
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        except sqlite3.Error as e:
            raise UserError(f"{path}: cannot open the trial store ({e})") from None
        return cls(path, db)._checked()

    def _checked(self) -> TrialStore:
        """This store, if it is one of this version; else closed, and a :class:`UserError`."""
        try:
            self._check()
        except BaseException:
            self.close()
            raise
        return self

    def _check(self) -> None:
        try:
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master")}
            version = None
            if "meta" in tables:
                version = self._db.execute(
                    "SELECT value FROM meta WHERE key = ?", ("schema",)
                ).fetchone()
            trials = "trials" in tables and bool(
                self._db.execute("SELECT 1 FROM trials LIMIT 1").fetchone()
            )
        except sqlite3.DatabaseError as e:
            raise UserError(f"{self.path}: not a trial store ({e})") from None
        if version is None and not trials:  # killed inside create(), before its meta commit
            raise IncompleteStore(
                f"{self.path}: a trial store left half created (the search was stopped while "
                f"creating it, before any trial); 'rlgen nas search --resume "
                f"{self.path.parent}' starts the search afresh there"
            )
        if version is None or version[0] != SCHEMA_VERSION:
            raise UserError(f"{self.path}: a trial store of another version")
        for table, wanted in _TABLES.items():
            try:
                have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            except sqlite3.DatabaseError as e:
                raise UserError(f"{self.path}: not a trial store ({e})") from None
            missing = [c for c in wanted if c not in have]
            if missing:
                what = f"no table {table!r}" if not have else f"table {table!r} lacks {missing}"
                raise UserError(f"{self.path}: a damaged trial store ({what})")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TrialStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- what was searched --------------------------------------------------------------------

    @_guarded
    def meta(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return _json(row[0], f"meta {key!r}") if row is not None else default

    def space(self) -> SearchSpace:
        """The search space the trials' architectures belong to (meta ``space``)."""
        from rlgen.nas.spaces import SearchSpace

        spec = self.meta("space")
        try:
            return SearchSpace.from_spec(spec)
        except (UserError, TypeError, KeyError, ValueError, AttributeError) as e:
            why = re.sub(r"^--([\w.-]+):? ", r"\1: ", str(e))  # not an option of this command
            raise UserError(
                f"{self.path}: a damaged trial store: its search space {spec!r:.100} is not one "
                f"this version knows ({why})"
            ) from None

    # -- the controller ------------------------------------------------------------------------

    @_guarded
    def propose(
        self, batch: int, archs: Sequence[Sequence[int]], state: Mapping[str, Any]
    ) -> list[int]:
        """Store batch ``batch``'s proposals (pending) with the controller state after sampling
        them, in one transaction; returns the new trials' ids."""
        with self._transaction():
            (first,) = self._db.execute("SELECT COALESCE(MAX(id) + 1, 0) FROM trials").fetchone()
            ids = list(range(first, first + len(archs)))
            self._db.executemany(
                "INSERT INTO trials (id, batch, architecture, status) VALUES (?, ?, ?, 'pending')",
                [(i, batch, json.dumps(list(a))) for i, a in zip(ids, archs, strict=True)],
            )
            self._save_state(self.batches_done(), state)
        return ids

    @_guarded
    def complete_batch(
        self, batch: int, state: Mapping[str, Any], metrics: Mapping[str, float]
    ) -> None:
        """Store the controller state after batch ``batch``'s update, and the update's metrics."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO updates (batch, metrics, time) VALUES (?, ?, ?)",
                (batch, json.dumps(dict(metrics)), time.time()),
            )
            self._save_state(batch + 1, state)

    def _save_state(self, batches: int, state: Mapping[str, Any]) -> None:
        import torch

        buffer = io.BytesIO()
        torch.save(dict(state), buffer)
        self._db.execute(
            "INSERT OR REPLACE INTO controller (id, batches, state, updated) VALUES (0, ?, ?, ?)",
            (batches, buffer.getvalue(), time.time()),
        )

    @_guarded
    def batches_done(self) -> int:
        row = self._db.execute("SELECT batches FROM controller WHERE id = 0").fetchone()
        if row is None:
            return 0
        if type(row[0]) is not int:
            raise _BadRow(f"the controller's batches done is {row[0]!r:.40}")
        return row[0]

    @_guarded
    def controller_state(self) -> dict[str, Any] | None:
        """The latest stored controller state (None before the first batch)."""
        import torch

        row = self._db.execute("SELECT state FROM controller WHERE id = 0").fetchone()
        if row is None:
            return None
        try:
            state: dict[str, Any] = torch.load(
                io.BytesIO(row[0]), map_location="cpu", weights_only=True
            )
        except Exception as e:
            raise UserError(f"{self.path}: cannot read the controller state ({e})") from None
        return state

    @_guarded
    def updates(self) -> list[tuple[int, dict[str, float]]]:
        """(batch, metrics) of every controller update, in order."""
        rows = self._db.execute("SELECT batch, metrics FROM updates ORDER BY batch").fetchall()
        updates = []
        for batch, text in rows:
            metrics = _json(text, f"update {batch}'s metrics")
            if not isinstance(metrics, dict):
                raise _BadRow(f"update {batch}'s metrics are not a JSON object")
            updates.append((int(batch), metrics))
        return updates

    # -- trials -------------------------------------------------------------------------------

    @_guarded
    def start(self, ids: Sequence[int], queued: float | None = None) -> None:
        """Mark trials as submitted (running), counting the attempt."""
        now = queued if queued is not None else time.time()
        with self._transaction():
            self._db.executemany(
                "UPDATE trials SET status = 'running', queued = ?, attempts = attempts + 1 "
                "WHERE id = ? AND status IN ('pending', 'running')",
                [(now, i) for i in ids],
            )

    @_guarded
    def finish(
        self,
        trial: int,
        *,
        reward: float,
        accuracy: float,
        metrics: Mapping[str, Any],
        worker: str | None,
        started: float,
        finished: float,
    ) -> None:
        """Store a finished trial (committed at once)."""
        with self._transaction():
            self._db.execute(
                "UPDATE trials SET status = 'finished', reward = ?, accuracy = ?, metrics = ?, "
                "worker = ?, started = ?, finished = ?, seconds = ?, error = NULL, "
                "traceback = NULL WHERE id = ?",
                (
                    reward,
                    accuracy,
                    json.dumps(dict(metrics)),
                    worker,
                    started,
                    finished,
                    finished - started,
                    trial,
                ),
            )

    @_guarded
    def fail(
        self,
        trial: int,
        *,
        error: str,
        traceback: str,
        worker: str | None,
        started: float,
        finished: float,
        metrics: Mapping[str, Any] | None = None,
    ) -> None:
        """Store a failed trial with its error (committed at once)."""
        with self._transaction():
            self._db.execute(
                "UPDATE trials SET status = 'failed', error = ?, traceback = ?, worker = ?, "
                "started = ?, finished = ?, seconds = ?, metrics = ? WHERE id = ?",
                (
                    error,
                    traceback,
                    worker,
                    started,
                    finished,
                    finished - started,
                    json.dumps(dict(metrics or {})),
                    trial,
                ),
            )

    @_guarded
    def trials(self, *, batch: int | None = None, status: str | None = None) -> list[Trial]:
        """Trials in id order, optionally of one batch and / or one status."""
        query = f"SELECT {_COLUMNS} FROM trials"
        args: list[Any] = []
        where = []
        if batch is not None:
            where.append("batch = ?")
            args.append(batch)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if where:
            query += " WHERE " + " AND ".join(where)
        return [_trial(r) for r in self._db.execute(query + " ORDER BY id", args).fetchall()]

    @_guarded
    def trial(self, trial_id: int) -> Trial:
        """One trial by its id."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM trials WHERE id = ?", (trial_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no trial {trial_id}")
        return _trial(row)

    @_guarded
    def best(self, n: int, *, by: str = "reward") -> list[Trial]:
        """The ``n`` finished trials with the highest ``reward`` or ``accuracy``."""
        column = {"reward": "reward", "accuracy": "accuracy"}[by]
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM trials WHERE status = 'finished' "
            f"ORDER BY {column} DESC, id LIMIT ?",
            (min(n, 2**63 - 1),),  # SQLite's integers are 64-bit: a larger --top means all
        ).fetchall()
        return [_trial(r) for r in rows]

    @_guarded
    def counts(self) -> dict[str, int]:
        """How many trials have each status."""
        rows = self._db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall()
        return {s: 0 for s in STATUSES} | {s: int(n) for s, n in rows}


def _connect(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
    except sqlite3.Error as e:
        raise UserError(f"{path}: cannot open the trial store ({e})") from None
    return db
