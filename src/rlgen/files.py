"""Files every command writes: atomic writes and JSON.

An atomic write goes through a temporary file and a rename, so that a reader (or a crash) never
sees half a file; JSON is written from dataclasses, paths, tuples and NumPy values, with
non-finite floats as ``null``, and read back with a missing or corrupt file as a :class:`UserError`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.errors import UserError


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
    if isinstance(obj, np.floating):  # a long double's .item() is a long double again
        return to_jsonable(float(obj))
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:  # a user's path (--figure, --gif): say why in one line
        blocking = [p for p in path.parents if p.exists() and not p.is_dir()]
        why = f"{blocking[-1]} is not a directory" if blocking else e.strerror
        raise UserError(f"{path}: cannot write it ({why})") from None
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


def read_json(path: str | Path, *, unique_keys: bool = False) -> Any:
    """Read a JSON file, turning a missing or corrupt file into a :class:`UserError`.

    ``unique_keys``: refuse an object that gives a key twice (JSON keeps the last in silence),
    for files a person writes."""
    path = Path(path)
    hook = _unique_keys if unique_keys else None
    try:
        return json.loads(path.read_text(), object_pairs_hook=hook)
    except _DuplicateKey as e:
        key = e.args[0] if len(e.args[0]) <= 40 else e.args[0][:40] + "..."
        raise UserError(f"{path}: the key {key!r} appears twice in one object") from None
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not valid JSON (not UTF-8 text)") from None


class _DuplicateKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj
