"""Checkpoints for exact resume.

:func:`save_checkpoint` / :func:`load_checkpoint`: ``torch.save`` written atomically, loaded with
``weights_only=True``. :class:`Checkpoint`: a file of named parts, each with ``state_dict`` /
``load_state_dict`` (torch modules and optimisers, and the parts below). :class:`GlobalRNG` and
:class:`NumpyRNG`: random number generator states as parts; :class:`Every`: a schedule as a part.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from typing import Protocol as typing_Protocol

import numpy as np

from rlgen.errors import UserError
from rlgen.files import atomic_write_bytes


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
