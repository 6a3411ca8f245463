"""Datasets: Fashion-MNIST and MNIST from IDX files, found locally or downloaded and verified.

A dataset's four IDX files (train / test images and labels, gzipped or not) are looked for, in
this order:

1. ``data_dir`` (the ``--data-dir`` option), used alone when given;
2. ``$RLGEN_DATA`` (its ``<name>/`` subdirectory or itself);
3. the Debian package's install location (``dataset-fashion-mnist`` installs
   ``/usr/share/datasets/fashion-mnist``);
4. the user cache, ``~/.cache/rlgen/<name>`` (``$XDG_CACHE_HOME`` respected);
5. else, with ``download=True``, the official mirrors, into the cache. Every downloaded file is
   verified before it is kept: the SHA-256 of its decompressed bytes where known (mirrors and
   distributions recompress the archives, so archive checksums differ between copies), else the
   MD5 the dataset's authors publish for their archive.

Nothing here needs the network unless a download is asked for; tests build small IDX files with
:func:`write_idx` / :func:`make_synthetic`.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import shutil
import tempfile
import urllib.request
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.errors import UserError, check_memory

# IDX type codes (the third byte of the magic number) and their big-endian dtypes.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES = {v.newbyteorder("="): k for k, v in _IDX_DTYPES.items()}

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DataFile:
    """One IDX file of a dataset and what is known to verify it."""

    name: str
    """file name without ``.gz``, e.g. ``train-images-idx3-ubyte``"""
    sha256: str | None = None
    """SHA-256 of the decompressed bytes"""
    gz_md5: str | None = None
    """MD5 of the authors' gzip archive"""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    files: dict[str, DataFile]
    """keys: train-images, train-labels, test-images, test-labels"""
    mirrors: tuple[str, ...]
    debian_dir: str | None = None
    classes: tuple[str, ...] = field(default_factory=tuple)


def _files(sha256: dict[str, str] | None = None, md5: dict[str, str] | None = None) -> dict:
    names = {
        "train-images": "train-images-idx3-ubyte",
        "train-labels": "train-labels-idx1-ubyte",
        "test-images": "t10k-images-idx3-ubyte",
        "test-labels": "t10k-labels-idx1-ubyte",
    }
    return {
        key: DataFile(name, (sha256 or {}).get(key), (md5 or {}).get(key))
        for key, name in names.items()
    }


DATASETS: dict[str, DatasetSpec] = {
    "fashion-mnist": DatasetSpec(
        "fashion-mnist",
        _files(
            sha256={
                "train-images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "train-labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "test-images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "test-labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            }
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        debian_dir="/usr/share/datasets/fashion-mnist",
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
    ),
    "mnist": DatasetSpec(
        "mnist",
        _files(
            md5={
                "train-images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "train-labels": "d53e105ee54ea40749a09fcbcd1e9432",
                "test-images": "9fb629c4189551a2d022fa330f9573f3",
                "test-labels": "ec29112dd5afa0611ce80d1b7f02629c",
            }
        ),
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",),
        classes=tuple(str(d) for d in range(10)),
    ),
}


# ---------------------------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------------------------


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped if its name ends in ``.gz``) into an array of its shape.

    Raises:
        UserError: the file is missing, truncated or not an IDX file.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            # the header first: its shape bounds what is read, so a small compressed file
            # that inflates without end (or claims a huge shape) cannot exhaust the memory
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
                raise UserError(f"{path}: not an IDX file (bad magic number)")
            dtype, ndim = _IDX_DTYPES[magic[2]], magic[3]
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise UserError(f"{path}: corrupt IDX file: the header is cut short")
            shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
            size = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
            header = 4 + 4 * ndim
            if opener is open:  # a plain file's size is known: no shape beyond it is read
                length = os.fstat(f.fileno()).st_size
                data = _read_up_to(f, size + 1) if length == header + size else None
                found = str(length)
            else:
                check_memory("data_dir", size, f"{path.name}'s shape {shape}")
                data = _read_up_to(f, size + 1)  # one byte more than needed: trailing data
                more = len(data) > size
                found = f"more than {header + size}" if more else str(header + len(data))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"{path}: cannot read it ({e}); the file is corrupt") from None
    if data is None or len(data) != size:
        raise UserError(
            f"{path}: corrupt IDX file: shape {shape} needs {header + size} bytes, found {found}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _read_up_to(f: Any, n: int, chunk: int = 1 << 24) -> bytes:
    """At most ``n`` bytes of ``f``, read in chunks (``f.read(n)`` allocates ``n`` up front)."""
    parts: list[bytes] = []
    while n > 0 and (part := f.read(min(n, chunk))):
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzipped if ``path`` ends in ``.gz``)."""
    path = Path(path)
    array = np.asarray(array)
    code = _IDX_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot hold dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    payload = header + np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with (gzip.open if path.suffix == ".gz" else open)(path, "wb") as f:
        f.write(payload)
    return path


# ---------------------------------------------------------------------------------------------
# Finding, downloading, loading
# ---------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rlgen"


def candidate_dirs(name: str, data_dir: str | Path | None = None) -> list[Path]:
    """Where ``name`` is looked for, in order (see the module docstring)."""
    spec = _spec(name)
    if data_dir is not None:
        return [Path(data_dir) / name, Path(data_dir)]
    dirs: list[Path] = []
    env = os.environ.get("RLGEN_DATA")
    if env:
        dirs += [Path(env) / name, Path(env)]
    if spec.debian_dir:
        dirs.append(Path(spec.debian_dir))
    dirs.append(cache_dir() / name)
    return dirs


def _locate(directory: Path, file: DataFile) -> Path | None:
    for candidate in (directory / f"{file.name}.gz", directory / file.name):
        if candidate.is_file():
            return candidate
    return None


def find(name: str, data_dir: str | Path | None = None) -> Path:
    """The first directory that holds all four files of ``name``.

    Raises:
        UserError: none does; the message lists where it looked and how to get the data.
    """
    spec = _spec(name)
    searched = candidate_dirs(name, data_dir)
    for directory in searched:
        if all(_locate(directory, f) for f in spec.files.values()):
            return directory
    if data_dir is not None:  # searched alone: the other places and their hints do not apply
        wanted = ", ".join(f"{f.name}[.gz]" for f in spec.files.values())
        raise UserError(
            f"{name}: data not found in --data-dir {data_dir} (searched alone when given); it "
            f"needs the four IDX files {wanted}"
        )
    hint = "install Debian's dataset-fashion-mnist (make setup does), " if spec.debian_dir else ""
    raise UserError(
        f"{name}: data not found in {', '.join(str(d) for d in searched)}; {hint}point "
        f"--data-dir or $RLGEN_DATA at the IDX files, or download them into the cache: "
        f"python -c \"from rlgen import data; data.download('{name}')\""
    )


def download(
    name: str, directory: str | Path | None = None, *, mirrors: Iterable[str] | None = None
) -> Path:
    """Download the four files of ``name`` into ``directory`` (default: the cache) and verify them.

    Files already there and verified are kept. A file that fails verification is never kept.

    Raises:
        UserError: no mirror delivered a verified copy of some file.
    """
    spec = _spec(name)
    target = Path(directory) if directory is not None else cache_dir() / name
    target.mkdir(parents=True, exist_ok=True)
    for file in spec.files.values():
        path = target / f"{file.name}.gz"
        if path.is_file() and _verified(path, file):
            continue
        errors = []
        for mirror in mirrors if mirrors is not None else spec.mirrors:
            url = mirror.rstrip("/") + f"/{file.name}.gz"
            try:
                _fetch(url, path, file)
                break
            except (OSError, ValueError) as e:  # network errors, HTTP errors, checksum mismatch
                errors.append(f"{url}: {e}")
        else:
            raise UserError(f"{name}: could not download {file.name}.gz: " + "; ".join(errors))
    return target


def _fetch(url: str, path: Path, file: DataFile) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out)
        if not _verified(Path(tmp), file):
            raise ValueError("checksum mismatch")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _verified(path: Path, file: DataFile) -> bool:
    """Whether a ``.gz`` file matches the known checksums of ``file`` (True when none is known)."""
    try:
        if file.sha256 is not None:
            digest = hashlib.sha256()
            with gzip.open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            return digest.hexdigest() == file.sha256
        if file.gz_md5 is not None:
            return hashlib.md5(path.read_bytes()).hexdigest() == file.gz_md5
    except (OSError, EOFError):
        return False
    return True


def load(
    name: str,
    split: str = "train",
    *,
    data_dir: str | Path | None = None,
    download_missing: bool = False,
    verify: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of one split.

    Args:
        name: ``fashion-mnist`` or ``mnist``.
        split: ``train`` or ``test``.
        data_dir: look only here (the ``--data-dir`` option).
        download_missing: download into the cache when no local copy is found.
        verify: check the local files against the known checksums first.

    Raises:
        UserError: unknown dataset or split, data not found, or corrupt files.
    """
    spec = _spec(name)
    if split not in SPLITS:
        raise UserError(f"--split: unknown split {split!r}; choose from {', '.join(SPLITS)}")
    try:
        directory = find(name, data_dir)
    except UserError:
        if not download_missing or data_dir is not None:
            raise
        directory = download(name)
    images_file, labels_file = spec.files[f"{split}-images"], spec.files[f"{split}-labels"]
    images_path, labels_path = _locate(directory, images_file), _locate(directory, labels_file)
    assert images_path is not None and labels_path is not None
    if verify:
        for path, file in ((images_path, images_file), (labels_path, labels_file)):
            if path.suffix == ".gz" and not _verified(path, file):
                raise UserError(f"{path}: checksum mismatch; the file is corrupt or not {name}")
    images, labels = read_idx(images_path), read_idx(labels_path)
    check_dataset(images, labels, classes=len(spec.classes) or None, where=str(directory))
    return images, labels


IMAGE_SHAPE = (28, 28)


def check_dataset(
    images: np.ndarray, labels: np.ndarray, *, classes: int | None, where: str
) -> None:
    """Refuse a split that is not Fashion-MNIST's layout: (N, 28, 28) uint8 images, (N,) uint8
    labels in 0..classes-1 (when the classes are known). Cheap enough to run on every load.

    Raises:
        UserError: naming what is wrong and where the files are.
    """
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise UserError(f"{where}: images of shape {images.shape}; expected (N, 28, 28)")
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise UserError(
            f"{where}: images of type {images.dtype} and labels of type {labels.dtype}; "
            "expected unsigned bytes (uint8) for both"
        )
    if labels.ndim != 1 or len(images) != len(labels):
        raise UserError(f"{where}: images {images.shape} and labels {labels.shape} do not match")
    if len(labels) == 0:
        raise UserError(f"{where}: the split holds no images")
    if classes is not None and labels.max() >= classes:
        raise UserError(f"{where}: label {int(labels.max())} found; labels are 0 to {classes - 1}")


def make_synthetic(
    directory: str | Path, *, train: int = 64, test: int = 32, size: int = 28, seed: int = 0
) -> Path:
    """Write a small dataset in the layout of Fashion-MNIST (for tests and examples).

    Class c is a bright horizontal bar at row ``2 + 2c`` on a noisy background, so a model can
    learn it in seconds and the labels are recoverable from the images.
    """
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    for split, n in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, size, size)).astype(np.uint8)
        for i, c in enumerate(labels):
            row = 2 + 2 * int(c)
            images[i, row : row + 2, 4 : size - 4] = 220
        write_idx(directory / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{split}-labels-idx1-ubyte.gz", labels)
    return directory


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise UserError(f"--dataset: unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name]
