"""``metrics.csv`` and TensorBoard event files.

:class:`MetricsWriter` writes one row per step / episode / epoch to a run directory's
``metrics.csv`` (and the same scalars to TensorBoard); :func:`read_metrics` and
:func:`metrics_columns` read the CSV back, for plots and reports.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.errors import UserError
from rlgen.files import atomic_write_bytes

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

    def purge_from(self, step: int) -> None:
        """Tell TensorBoard that the run restarted at ``step``: it drops the events it has at
        ``step`` and later (torch's ``SummaryWriter(purge_step=step)`` writes the same)."""
        from tensorboard.compat.proto import event_pb2

        start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
        self._writer.add_event(
            event_pb2.Event(wall_time=time.time(), step=int(step), session_log=start)
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
            header = _read_csv(self.path)[0]
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
        """Drop rows whose index is above ``step`` (used when resuming from a checkpoint).

        TensorBoard is told to drop its events after ``step`` as well, so that the steps the
        resumed run logs again are not shown twice.
        """

        def kept(row: dict[str, str]) -> bool:
            index = _parse(row.get(self.index), self.path)
            return index is None or index <= step

        self._rewrite(lambda rows: [r for r in rows if kept(r)])
        if self._tb is not None:
            self._tb.purge_from(math.floor(step) + 1)

    def _extend_header(self, new: list[str]) -> None:
        self._columns = self._columns + new
        self._rewrite(lambda rows: rows)

    def _rewrite(self, keep: Any) -> None:
        """Rewrite the file with the current header and the rows ``keep(rows)`` returns.

        Values are copied as they were written (``20`` stays ``20``, not ``20.0``), except an
        index read as a whole float, which is written as the integer. Through a temporary file
        and a rename: a kill during the rewrite leaves the old file.
        """
        self._file.close()
        header, lines = _read_csv(self.path)
        rows = keep([dict(zip(header, line, strict=False)) for line in lines])
        text = io.StringIO(newline="")
        w = csv.writer(text)
        w.writerow(self._columns)
        for r in rows:
            index = _index_value(_parse(r.get(self.index), self.path))
            w.writerow([_fmt(index) if c == self.index else r.get(c, "") for c in self._columns])
        atomic_write_bytes(self.path, text.getvalue().encode())
        self._file = self.path.open("a", newline="")
        self._writer = csv.writer(self._file)

    def close(self) -> None:
        """Close the CSV and TensorBoard files; safe to call twice."""
        if not self._file.closed:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _index_value(value: float | None) -> float | int | None:
    """An index read back as a float (``3.0``) is written again as the integer it was."""
    return int(value) if value is not None and float(value).is_integer() else value


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(int(value))  # a number, like every other value of the file
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def _parse(text: str | None, path: Path) -> float | None:
    """One value of ``metrics.csv`` (``None`` for a blank)."""
    if text in ("", None):
        return None
    try:
        return float(text)
    except ValueError:
        raise UserError(f"{path}: not a metrics file (the value {text!r})") from None


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of a CSV file, as text; a damaged file is a UserError."""
    try:
        with path.open(newline="") as f:
            lines = [line for line in csv.reader(f) if line]  # blank lines: no row
    except (UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"{path}: not a metrics file ({e})") from None
    return (lines[0], lines[1:]) if lines else ([], [])


def read_metrics(path: str | Path) -> list[dict[str, float | None]]:
    """Rows of a ``metrics.csv`` as dicts of floats (``None`` for blanks)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.is_file():
        raise UserError(f"{path}: no metrics here")
    header, lines = _read_csv(path)
    return [
        {k: _parse(line[i] if i < len(line) else None, path) for i, k in enumerate(header)}
        for line in lines
    ]


def metrics_columns(path: str | Path) -> dict[str, np.ndarray]:
    """``metrics.csv`` as one float array per column (NaN for blanks)."""
    rows = read_metrics(path)
    keys = list(rows[0]) if rows else []
    return {k: np.array([np.nan if r[k] is None else r[k] for r in rows]) for k in keys}
