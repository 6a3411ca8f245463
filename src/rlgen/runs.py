"""Run directories and everything every topic shares about them.

A run directory is the contract between a command, the scripts that read its results and the
report (see ``DESIGN.md``)::

    config.json      the fully resolved config, package version, seed, device, argv
    metrics.csv      one row per step / episode / epoch; columns such as ``train/loss``
    events.out.*     the same scalars for TensorBoard
    summary.json     the final figures (stable, documented keys)
    checkpoint.pt    model + optimiser + RNG states + counters, written atomically
    *.png            figures

This module holds the run directory itself (:class:`Run`: claimed, locked, ``config.json`` and
``summary.json`` written), the :class:`Command` a topic declares, seeding, devices and progress
bars. Its neighbours hold the rest: ``rlgen.files`` (atomic writes, JSON), ``rlgen.metrics``
(``metrics.csv``, TensorBoard), ``rlgen.configs`` (``config.json`` back to a config, ``--resume``
checks) and ``rlgen.checkpoints`` (checkpoints of named parts, RNG states, schedules).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from rlgen.errors import UserError, check_choice
from rlgen.files import read_json, to_jsonable, write_json
from rlgen.metrics import MetricsWriter

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Seeding and devices
# ---------------------------------------------------------------------------------------------


MAX_SEED = 2**63 - 1
"""largest --seed: torch generators take seeds below 2**64, and runs add small offsets to theirs
(a sweep's seed + i)"""


def make_rng(seed: int | np.random.SeedSequence) -> np.random.Generator:
    """A NumPy generator from a seed. rlgen never touches NumPy's global RNG."""
    return np.random.default_rng(seed)


Device = Literal["auto", "cpu", "cuda"]
"""the --device choices of every command that trains networks (resolved by resolve_device)"""


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
