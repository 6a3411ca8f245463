"""Run directories and everything every topic shares about them.

A run directory is the contract between a command, the scripts that read its results and the
report (see ``DESIGN.md``)::

    config.json      the fully resolved config, package version, seed, device, argv
    metrics.csv      one row per step / episode / epoch; columns such as ``train/loss``
    events.out.*     the same scalars for TensorBoard
    summary.json     the final figures (stable, documented keys)
    checkpoint.pt    model + optimiser + RNG states + counters, written atomically
    *.png            figures

This module also holds the small pieces every topic needs: the user-error type, range checks that
produce a message naming the option, seeding, progress bars and atomic file writes.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rlgen.errors import UserError, check_choice

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Seeding and devices
# ---------------------------------------------------------------------------------------------


def make_rng(seed: int | np.random.SeedSequence) -> np.random.Generator:
    """A NumPy generator from a seed. rlgen never touches NumPy's global RNG."""
    return np.random.default_rng(seed)


def resolve_device(device: str) -> str:
    """``auto``: ``cuda`` when a GPU is present, else ``cpu``; ``cuda`` without a GPU: an error."""
    check_choice("device", device, ("auto", "cpu", "cuda"))
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here; use --device cpu")
    return device


# ---------------------------------------------------------------------------------------------
# Progress bars
# ---------------------------------------------------------------------------------------------


def progress_enabled(quiet: bool) -> bool:
    """Bars show only on a terminal and never under ``--quiet``."""
    return not quiet and sys.stderr.isatty()


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    quiet: bool = False,
    unit: str = "it",
) -> Any:
    """A tqdm bar on stderr, disabled under ``quiet`` or when stderr is not a terminal."""
    from tqdm.auto import tqdm

    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        disable=not progress_enabled(quiet),
        leave=False,
        dynamic_ncols=True,
    )


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, paths, tuples and NumPy scalars/arrays turned into plain JSON values.

    Non-finite floats become ``null`` so that the JSON stays standard.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader (or a crash) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write ``obj`` (see :func:`to_jsonable`) as indented JSON."""
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode())


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning a missing or corrupt file into a :class:`UserError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> None:
    """``torch.save`` through a temporary file and a rename: a kill never leaves half a file."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no checkpoint here")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise UserError(f"{path}: cannot read the checkpoint ({type(e).__name__}: {e})") from None


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


TENSORBOARD_POINTS = 2000


class ScalarEvents:
    """Scalars to TensorBoard event files through TensorBoard's own writer.

    The same files torch's ``SummaryWriter`` writes, without importing torch (1.5 s of start-up
    for commands that never train a network).
    """

    def __init__(self, log_dir: Path) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._writer = EventFileWriter(str(log_dir))

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]
        )
        self._writer.add_event(
            event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)
        )

    def close(self) -> None:
        self._writer.close()


class MetricsWriter:
    """Rows of scalars to ``metrics.csv`` and, optionally, to TensorBoard event files.

    Each row has an index column (``step`` by default) and any metrics. Columns are the union of
    every key seen so far: a new key rewrites the header once (rows before it get blanks). The
    file is flushed after every row, so a killed run keeps what it logged.
    """

    def __init__(
        self, run_dir: Path, *, index: str = "step", tensorboard: bool = True, append: bool = False
    ) -> None:
        self.path = run_dir / "metrics.csv"
        self.index = index
        self._columns: list[str] = [index]
        if append and self.path.exists():
            with self.path.open(newline="") as f:
                header = next(csv.reader(f), None)
            if header:
                self._columns = header
        else:
            self.path.unlink(missing_ok=True)
        self._file = self.path.open("a", newline="")
        self._writer = csv.writer(self._file)
        if self._file.tell() == 0:
            self._writer.writerow(self._columns)
            self._file.flush()
        self._tb: ScalarEvents | None = ScalarEvents(run_dir) if tensorboard else None

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        """Append one row; ``step`` is the row's index (environment step, episode, epoch)."""
        new = [k for k in metrics if k not in self._columns]
        if new:
            self._extend_header(new)
        values = {self.index: step, **metrics}
        self._writer.writerow([_fmt(values.get(c)) for c in self._columns])
        self._file.flush()
        if self._tb is not None:
            for key, value in metrics.items():
                if value is not None and math.isfinite(float(value)):
                    self._tb.add_scalar(key, float(value), step)

    def log_many(self, steps: np.ndarray, columns: Mapping[str, np.ndarray]) -> None:
        """Append many rows at once: ``steps`` (N,) and each column (N,).

        Every row goes to the CSV; TensorBoard gets at most ``TENSORBOARD_POINTS`` evenly spaced
        rows (its scalar dashboard keeps 1000 points per tag anyway).
        """
        new = [k for k in columns if k not in self._columns]
        if new:
            self._extend_header(new)
        steps = np.asarray(steps)
        arrays = {name: np.asarray(values) for name, values in columns.items()}
        table = [steps.tolist()] + [
            arrays[c].tolist() if c in arrays else [None] * steps.size for c in self._columns[1:]
        ]
        self._writer.writerows([[_fmt(v) for v in row] for row in zip(*table, strict=True)])
        self._file.flush()
        if self._tb is not None:
            stride = max(1, math.ceil(steps.size / TENSORBOARD_POINTS))
            for name, values in arrays.items():
                pairs = zip(steps[::stride].tolist(), values[::stride].tolist(), strict=True)
                for step, value in pairs:
                    if math.isfinite(value):
                        self._tb.add_scalar(name, value, step)

    def truncate_after(self, step: int) -> None:
        """Drop rows whose index is above ``step`` (used when resuming from a checkpoint)."""
        self._rewrite(
            lambda rows: [r for r in rows if (i := r.get(self.index)) is None or i <= step]
        )

    def _extend_header(self, new: list[str]) -> None:
        self._columns = self._columns + new
        self._rewrite(lambda rows: rows)

    def _rewrite(self, keep: Any) -> None:
        """Rewrite the file with the current header and the rows ``keep(rows)`` returns."""
        self._file.close()
        rows = keep(read_metrics(self.path))
        with self.path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(self._columns)
            for r in rows:
                w.writerow([_fmt(r.get(c)) for c in self._columns])
        self._file = self.path.open("a", newline="")
        self._writer = csv.writer(self._file)

    def close(self) -> None:
        """Close the CSV and TensorBoard files; safe to call twice."""
        if not self._file.closed:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def read_metrics(path: str | Path) -> list[dict[str, float | None]]:
    """Rows of a ``metrics.csv`` as dicts of floats (``None`` for blanks)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.is_file():
        raise UserError(f"{path}: no metrics here")
    with path.open(newline="") as f:
        return [
            {k: (float(v) if v not in ("", None) else None) for k, v in row.items()}
            for row in csv.DictReader(f)
        ]


def metrics_columns(path: str | Path) -> dict[str, np.ndarray]:
    """``metrics.csv`` as one float array per column (NaN for blanks)."""
    rows = read_metrics(path)
    keys = list(rows[0]) if rows else []
    return {k: np.array([np.nan if r[k] is None else r[k] for r in rows]) for k in keys}


# ---------------------------------------------------------------------------------------------
# The run directory
# ---------------------------------------------------------------------------------------------


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rlgen")
    except PackageNotFoundError:
        return "unknown"


def default_run_dir(command: str, seed: int | None) -> Path:
    """``runs/<command>/<timestamp>-s<seed>``, with spaces in a nested command made dashes."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    suffix = f"-s{seed}" if seed is not None else ""
    return Path("runs") / command.replace(" ", "-") / f"{stamp}{suffix}"


class Run:
    """One run directory, opened by a topic's ``run()``.

    Creates the directory, writes ``config.json`` at once, and gives the topic a metrics writer,
    a progress-bar factory and ``finish(summary)`` to write ``summary.json``. Use as a context
    manager so that files are closed even when the run fails.
    """

    def __init__(
        self,
        command: str,
        config: Any,
        run_dir: str | Path | None = None,
        *,
        quiet: bool = False,
        tensorboard: bool = True,
        metrics_index: str = "step",
        device: str = "cpu",
        resume: bool = False,
    ) -> None:
        seed = getattr(config, "seed", None)
        self.path = Path(run_dir) if run_dir is not None else default_run_dir(command, seed)
        self.command = command
        self.config = config
        self.quiet = quiet
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"--out {self.path}: exists and is not a directory")
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(
            self.path / "config.json",
            {
                "command": command,
                "config": config,
                "version": package_version(),
                "seed": seed,
                "device": device,
                "argv": sys.argv,
                "python": sys.version.split()[0],
                "created": _dt.datetime.now().isoformat(timespec="seconds"),
            },
        )
        self.metrics = MetricsWriter(
            self.path, index=metrics_index, tensorboard=tensorboard, append=resume
        )

    def progress(self, iterable: Iterable[T] | None = None, **kwargs: Any) -> Any:
        """A progress bar that respects this run's ``quiet``."""
        return progress(iterable, quiet=self.quiet, **kwargs)

    def finish(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``summary.json`` and close the metrics; returns the summary as written."""
        data = to_jsonable(summary)
        write_json(self.path / "summary.json", data)
        self.close()
        return data

    def close(self) -> None:
        self.metrics.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
