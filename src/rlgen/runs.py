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
import io
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from typing import Protocol as typing_Protocol

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
        with warnings.catch_warnings():  # torch warns about foreign pickles before refusing them
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file, or one that is not just weights
        raise UserError(f"{path}: cannot read the checkpoint ({_load_error(e)})") from None


def _load_error(error: Exception) -> str:
    """torch's load error without its advice to retry unsafely (``weights_only=False``)."""
    text = str(error)
    if "Weights only load failed" in text:
        detail = [
            line.strip()
            for line in text.splitlines()
            if line.strip().startswith(("Trying to load unsupported", "Unsupported"))
        ]
        reason = detail[0] if detail else "it holds more than weights"
        return f"not an rlgen checkpoint, or not a safe one: {reason}"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


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


# ---------------------------------------------------------------------------------------------
# What a topic declares for the command line
# ---------------------------------------------------------------------------------------------


def _no_description(summary: Mapping[str, Any]) -> str:
    return json.dumps(to_jsonable(summary), indent=2)


def _success(config: Any, summary: Mapping[str, Any]) -> int:
    return 0


@dataclass(frozen=True)
class Command:
    """A subcommand as its topic declares it in ``command.py``; the CLI reads nothing else.

    Attributes:
        config: the frozen config dataclass; its fields and docstrings become the options.
        run: ``run(config, run_dir, *, quiet, overwrite) -> summary`` for a command that writes a
            run directory, else ``run(config) -> result``.
        describe: a few lines for the terminal from the summary (default: the summary as JSON).
        exit_status: the exit status from the config and the summary (default: 0).
        writes_run_dir: whether the command takes ``--out``, ``--quiet`` and ``--overwrite``.
    """

    config: type
    run: Callable[..., Any]
    describe: Callable[[Any], str] = _no_description
    exit_status: Callable[[Any, Any], int] = _success
    writes_run_dir: bool = True


# ---------------------------------------------------------------------------------------------
# Configs: saved in config.json, loaded back, checked on --resume
# ---------------------------------------------------------------------------------------------

C = TypeVar("C")


def config_from_dict(cls: type[C], data: Mapping[str, Any], *, where: str = "config") -> C:
    """The frozen config dataclass ``cls`` from its JSON form (:func:`to_jsonable`).

    Nested dataclasses, tuples (saved as lists), paths and optional fields are rebuilt from the
    field types; fields missing from ``data`` keep their defaults; unknown keys are an error.
    The config's own validation runs again, so a hand-edited config.json is checked like options.

    Raises:
        UserError: ``data`` does not describe a ``cls`` (``where`` names the file in the message).
    """
    import typing

    if not isinstance(data, Mapping):
        raise UserError(f"{where}: expected an object of {cls.__name__} fields, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(f"{where}: unknown {cls.__name__} fields {', '.join(unknown)}")
    values = {name: _from_json(hints[name], data[name], f"{where}.{name}") for name in data}
    try:
        return cls(**values)
    except TypeError as e:
        raise UserError(f"{where}: {e}") from None


def _from_json(hint: Any, value: Any, where: str) -> Any:
    """``value`` (from JSON) converted to the type ``hint`` of a config field.

    Values of the wrong type (a string for an int, ``1`` for a bool, a choice that is not one of
    a ``Literal``'s) are refused here, naming the field, rather than slipping into the config.
    """
    import types
    import typing

    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _from_json(typing.get_args(hint)[0], value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _from_json(options[0], value, where) if len(options) == 1 else value
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            choices = ", ".join(repr(a) for a in typing.get_args(hint))
            raise UserError(f"{where}: {value!r} is not one of {choices}")
        return value
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return config_from_dict(hint, value, where=where)
    if origin is tuple:
        if not isinstance(value, list | tuple):  # JSON gives lists; a torch checkpoint, tuples
            raise UserError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]
            items = [args[0]] * len(value)
        elif args:  # tuple[X, Y]: one type per position
            if len(value) != len(args):
                raise UserError(f"{where}: expected {len(args)} values, got {value!r}")
            items = list(args)
        else:
            items = [Any] * len(value)
        return tuple(
            _from_json(item, v, f"{where}[{i}]")
            for i, (item, v) in enumerate(zip(items, value, strict=True))
        )
    expected = _JSON_SCALARS.get(hint)
    if expected is not None and (
        not isinstance(value, expected) or (isinstance(value, bool) and hint is not bool)
    ):
        raise UserError(f"{where}: expected {_TYPE_NAMES[hint]}, got {value!r}")
    if hint is Path:
        return Path(value)
    if hint is float:
        return float(value)
    return value


_JSON_SCALARS: dict[Any, type | tuple[type, ...]] = {
    bool: bool,
    int: int,
    float: (int, float),
    str: str,
    Path: str,
}
_TYPE_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    Path: "a path",
}


def changed_options(config: Any, *, ignore: Iterable[str] = ("resume",)) -> list[str]:
    """The options of ``config`` whose values differ from the config class's defaults.

    Nested configs are searched field by field; an option is spelled as on the command line
    (``--lr`` where the nested config's prefix is omitted, else ``--child.lr``). Used to refuse
    options that ``--resume`` would ignore.
    """
    import typing

    from rlgen.errors import option_name

    ignore = set(ignore)
    default = type(config)()
    hints = typing.get_type_hints(type(config), include_extras=True)
    changed: list[str] = []
    for f in dataclasses.fields(config):
        value, base = getattr(config, f.name), getattr(default, f.name)
        if f.name in ignore or value == base:
            continue
        inner = changed_options(value) if dataclasses.is_dataclass(value) else []
        if inner:
            prefix = "" if _omits_prefix(hints[f.name]) else option_name(f.name)[2:] + "."
            changed += ["--" + prefix + name.removeprefix("--") for name in inner]
        else:  # a plain value, or a nested config that is there instead of None
            changed.append(option_name(f.name))
    return changed


def _omits_prefix(hint: Any) -> bool:
    """Whether a nested config's field is annotated to flatten its options (no ``name.``)."""
    import typing

    import tyro

    if typing.get_origin(hint) is not typing.Annotated:
        return False
    return any(m is tyro.conf.OmitArgPrefixes for m in typing.get_args(hint)[1:])


def check_resume_options(config: Any, run_dir: Path) -> None:
    """Refuse options given beside ``--resume``: the run continues with its saved config."""
    given = changed_options(config)
    if given:
        raise UserError(
            f"--resume continues with the config saved in {run_dir}; leave out "
            f"{', '.join(given)} (they would be ignored)"
        )


def load_run_config(run_dir: str | Path, command: str, cls: type[C]) -> C:
    """The config a ``command`` run saved in ``run_dir/config.json``, as a ``cls``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a run directory")
    saved = read_json(run_dir / "config.json")
    if not isinstance(saved, dict) or saved.get("command") != command:
        raise UserError(f"{run_dir}: not a '{command}' run directory")
    return config_from_dict(cls, saved.get("config") or {}, where=f"{run_dir / 'config.json'}")


# ---------------------------------------------------------------------------------------------
# Exact resume: RNG states, schedules, checkpoints of named parts
# ---------------------------------------------------------------------------------------------


class Stateful(typing_Protocol):
    """Anything a checkpoint can hold: torch modules and optimisers, and rlgen's own parts."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any, /) -> Any: ...


class GlobalRNG:
    """The process-wide generators (Python's ``random``, torch's CPU and CUDA) as a part.

    rlgen draws from explicit NumPy generators, but torch's layers (initialisation, dropout,
    ``randn_like``) draw from torch's global one; saving it makes a resumed run draw what the
    uninterrupted run would have drawn.
    """

    def state_dict(self) -> dict[str, Any]:
        import torch

        state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        import torch

        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class NumpyRNG:
    """A :class:`numpy.random.Generator` as a checkpoint part (its bit generator's state)."""

    def __init__(self, generator: np.random.Generator) -> None:
        self.generator = generator

    def state_dict(self) -> dict[str, Any]:
        return dict(self.generator.bit_generator.state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.bit_generator.state = state


class Every:
    """A schedule: due at the first count at or after each multiple of ``n``.

    ``every = Every(2000)``; ``every(1990)`` is False, ``every(2013)`` True, then due again from
    4000. Counts (environment steps, epochs) only grow; the schedule is a checkpoint part.
    """

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"Every needs n >= 1, got {n}")
        self.n = n
        self.next = n

    def __call__(self, count: int) -> bool:
        if count < self.next:
            return False
        self.next = (count // self.n + 1) * self.n
        return True

    def state_dict(self) -> dict[str, int]:
        return {"next": self.next}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.next = int(state["next"])


class Checkpoint:
    """A checkpoint file made of named parts, each with ``state_dict`` / ``load_state_dict``.

    ``Checkpoint(path, {"policy": net, "optimizer": opt, "rng": GlobalRNG()}, kind="...")``;
    :meth:`save` writes every part's state (plus plain ``extra`` values) atomically;
    :meth:`load` restores every part and returns the extras. ``kind`` is stored and checked, so
    one command's checkpoint is never loaded as another's.
    """

    def __init__(self, path: str | Path, parts: Mapping[str, Stateful], *, kind: str) -> None:
        self.path = Path(path)
        self.parts = dict(parts)
        self.kind = kind
        self.seconds = 0.0
        """time spent writing, in all"""

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, **extra: Any) -> None:
        start = time.perf_counter()
        state = {name: part.state_dict() for name, part in self.parts.items()}
        save_checkpoint(self.path, {"format": self.kind, "parts": state, "extra": extra})
        self.seconds += time.perf_counter() - start

    def read(self) -> dict[str, Any]:
        """The raw saved state (``format``, ``parts``, ``extra``), checked to be of this kind."""
        state = load_checkpoint(self.path)
        if not isinstance(state, dict) or state.get("format") != self.kind:
            raise UserError(f"{self.path}: not a checkpoint of this kind ({self.kind})")
        missing = sorted(set(self.parts) - set(state.get("parts", {})))
        if missing:
            raise UserError(f"{self.path}: the checkpoint lacks {', '.join(missing)}")
        return state

    def load(self) -> dict[str, Any]:
        """Restore every part from the file; returns the ``extra`` values saved with them."""
        state = self.read()
        for name, part in self.parts.items():
            try:
                part.load_state_dict(state["parts"][name])
            except (RuntimeError, KeyError, ValueError, TypeError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise UserError(
                    f"{self.path}: the saved {name} does not fit this run ({first})"
                ) from None
        return dict(state.get("extra", {}))


# ---------------------------------------------------------------------------------------------
# The run directory
# ---------------------------------------------------------------------------------------------


class Run:
    """One run directory, opened by a topic's ``run()``.

    Claims the directory for this process (an OS lock, released when the process ends, even by
    kill -9), refuses to write into another run's files, writes ``config.json`` at once, and
    gives the topic a metrics writer, a progress-bar factory and ``finish(summary)`` to write
    ``summary.json``. Use as a context manager so that files are closed even when the run fails.

    Args:
        command: the command's name, stored in config.json (``reinforce``, ``mdp solve``).
        config: the resolved config dataclass.
        run_dir: the directory (default ``runs/<command>/<timestamp>-s<seed>``).
        resume: continue the run already in ``run_dir`` (same command): keep its metrics.
        overwrite: empty an existing non-empty ``run_dir`` first; without it (and without
            ``resume``) a non-empty directory is refused.
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
        overwrite: bool = False,
    ) -> None:
        seed = getattr(config, "seed", None)
        self.path = Path(run_dir) if run_dir is not None else default_run_dir(command, seed)
        self.command = command
        self.config = config
        self.quiet = quiet
        self._lock = claim_run_dir(self.path, command, resume=resume, overwrite=overwrite)
        self.created = self._lock.created
        try:
            write_json(self.path / "config.json", self._record(seed, device, resume))
            self.metrics = MetricsWriter(
                self.path, index=metrics_index, tensorboard=tensorboard, append=resume
            )
        except BaseException:  # nothing was done yet: leave no lock and no new directory behind
            self._discard()
            raise

    def _record(self, seed: int | None, device: str, resume: bool) -> dict[str, Any]:
        """config.json's content; a resumed run keeps how the run was first made and lists
        each resumption (``resumed``: argv, time, version, device)."""
        session = {
            "version": package_version(),
            "device": device,
            "argv": sys.argv,
            "python": sys.version.split()[0],
            "created": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        record = {"command": self.command, "config": self.config, "seed": seed, **session}
        saved = self.path / "config.json"
        if resume and saved.is_file():
            original = read_json(saved)
            if isinstance(original, dict):
                keep = {k: original[k] for k in session if k in original}
                resumed = original.get("resumed")
                resumed = resumed if isinstance(resumed, list) else []
                record |= keep | {"resumed": [*resumed, session]}
        return record

    def progress(self, iterable: Iterable[T] | None = None, **kwargs: Any) -> Any:
        """A progress bar that respects this run's ``quiet``."""
        return progress(iterable, quiet=self.quiet, **kwargs)

    def finish(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``summary.json`` and close the metrics; returns the summary as written."""
        data = to_jsonable(summary)
        write_json(self.path / "summary.json", data)
        self.metrics.close()
        return data

    def close(self) -> None:
        self.metrics.close()
        self._lock.release()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.metrics.close()
        if kind is not None and issubclass(kind, UserError) and not self._worth_keeping():
            self._discard()  # the command failed on its input before producing anything
        self._lock.release()

    def _worth_keeping(self) -> bool:
        """Whether the directory holds a result: a summary or a checkpoint, at any depth (a
        sweep keeps its seeds' in subdirectories)."""
        return any(self.path.rglob("summary.json")) or any(self.path.rglob("checkpoint*"))

    def _discard(self) -> None:
        """Undo what this run wrote, while still holding the lock (so that no other process
        can claim the directory in between), then release it: a directory it created is
        removed, one that it found empty (or emptied, under ``--overwrite``) is emptied again;
        a resumed run's directory is left as it is."""
        if self._lock.created:
            shutil.rmtree(self.path, ignore_errors=True)
        elif self._lock.fresh:
            _empty(self.path, ignore_errors=True)
        self._lock.release()


class RunLock:
    """An exclusive ``flock`` on the run directory itself; the OS drops it when the process
    dies, so a killed run never leaves a stale lock behind, and no lock file is ever made."""

    def __init__(self, path: Path, created: bool) -> None:
        import fcntl

        self.path = path
        self.created = created
        self.fresh = created
        """whether the directory was new or empty when claimed (or emptied by ``overwrite``)"""
        self._fd: int | None = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            self._fd = None
            raise UserError(
                f"{path}: another rlgen process is writing this run directory; wait for it to "
                "end or choose another --out"
            ) from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def claim_run_dir(path: Path, command: str, *, resume: bool, overwrite: bool) -> RunLock:
    """Create or reuse ``path`` as the run directory of ``command`` and lock it.

    An existing directory with files in it is refused unless ``resume`` (then it must be a run
    of the same ``command``) or ``overwrite`` (then it is emptied, once the lock is held).
    Whenever it is refused, the lock is released again.
    """
    if str(path) in ("", "."):
        raise UserError("--out: give a directory for the run, not the current directory")
    if path.exists() and not path.is_dir():
        raise UserError(f"--out {path}: exists and is not a directory")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {path}: cannot create the directory ({e.strerror})") from None
    try:
        lock = RunLock(path, created)
    except OSError as e:  # unreadable, or removed since (by a run that failed and cleaned up)
        raise UserError(f"--out {path}: cannot write here ({e.strerror})") from None
    try:
        _check_contents(path, command, lock, resume=resume, overwrite=overwrite)
    except BaseException:
        lock.release()
        raise
    return lock


def _check_contents(
    path: Path, command: str, lock: RunLock, *, resume: bool, overwrite: bool
) -> None:
    contents = list(path.iterdir())
    if not contents or lock.created:
        lock.fresh = True
        return
    if resume:
        saved = path / "config.json"
        data = read_json(saved) if saved.exists() else None
        if not isinstance(data, dict) or data.get("command") != command:
            raise UserError(f"--resume {path}: not a '{command}' run directory")
        return
    if overwrite:
        try:
            _empty(path)
        except OSError as e:
            raise UserError(f"--overwrite {path}: cannot empty the directory ({e})") from None
        lock.fresh = True
        return
    raise UserError(
        f"--out {path}: the directory is not empty (another run's files?); choose a new "
        "directory, pass --overwrite to empty it first, or continue the run there with "
        "--resume where the command has it"
    )


def _empty(path: Path, *, ignore_errors: bool = False) -> None:
    """Remove everything in ``path``; symbolic links are removed, never followed."""
    for p in path.iterdir():
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        except OSError:
            if not ignore_errors:
                raise
