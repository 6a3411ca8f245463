"""Datasets: IDX files, the search order, verified downloads (local mirror), the real data."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from rlgen import data
from rlgen.errors import UserError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if np.dtype(dtype) == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = data.write_idx(tmp_path / f"a.idx{suffix}", array)
    back = data.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_idx_header_by_hand(tmp_path):
    # magic 0x00000801 (uint8, 1 dimension), size 3, then the bytes
    (tmp_path / "l.idx").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    assert data.read_idx(tmp_path / "l.idx").tolist() == [7, 8, 9]


def test_corrupt_files_are_clear_user_errors(tmp_path):
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(UserError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad.idx")
    (tmp_path / "short.idx").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(
        UserError, match="corrupt IDX file: shape \\(5,\\) needs 13 bytes, found 10"
    ):
        data.read_idx(tmp_path / "short.idx")
    data.write_idx(tmp_path / "t.idx.gz", np.zeros((100, 28, 28), np.uint8))
    raw = (tmp_path / "t.idx.gz").read_bytes()
    (tmp_path / "t.idx.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(UserError, match="corrupt"):
        data.read_idx(tmp_path / "t.idx.gz")
    with pytest.raises(UserError, match="no such file"):
        data.read_idx(tmp_path / "missing.idx")


def test_synthetic_set_loads_like_fashion_mnist(tmp_path):
    data.make_synthetic(tmp_path, train=20, test=10)
    images, labels = data.load("fashion-mnist", "train", data_dir=tmp_path)
    assert images.shape == (20, 28, 28) and images.dtype == np.uint8 and labels.shape == (20,)
    rows = images[:, :, 14].argmax(axis=1)  # the bright bar encodes the class
    np.testing.assert_array_equal((rows - 2) // 2, labels)
    test_images, _ = data.load("fashion-mnist", "test", data_dir=tmp_path)
    assert len(test_images) == 10


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No $RLGEN_DATA, a private cache, and the Debian location moved into tmp_path."""
    monkeypatch.delenv("RLGEN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = dataclasses.replace(data.DATASETS["fashion-mnist"], debian_dir=str(tmp_path / "debian"))
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", spec)
    return tmp_path


def test_search_order(isolated, monkeypatch):
    tmp = isolated
    with pytest.raises(UserError) as info:
        data.find("fashion-mnist")
    message = str(info.value)
    assert "data not found in" in message and "debian" in message and "--data-dir" in message
    # the commands never download: the message says how to (the call it names downloads)
    assert "data.download('fashion-mnist')" in message
    cache = data.make_synthetic(tmp / "cache" / "rlgen" / "fashion-mnist", seed=1)
    assert data.find("fashion-mnist") == cache
    debian = data.make_synthetic(tmp / "debian", seed=2)
    assert data.find("fashion-mnist") == debian  # Debian's package before the cache
    env = data.make_synthetic(tmp / "env" / "fashion-mnist", seed=3)
    monkeypatch.setenv("RLGEN_DATA", str(tmp / "env"))
    assert data.find("fashion-mnist") == env  # $RLGEN_DATA before both
    explicit = data.make_synthetic(tmp / "explicit", seed=4)
    assert data.find("fashion-mnist", data_dir=explicit) == explicit  # --data-dir first
    with pytest.raises(UserError, match="data not found") as info:
        data.find("fashion-mnist", data_dir=tmp / "nowhere")  # and alone
    message = str(info.value)  # so the other places' hints are left out
    assert "searched alone" in message and "train-images-idx3-ubyte[.gz]" in message
    assert "debian" not in message.lower() and "RLGEN_DATA" not in message


def _mirror_spec(mirror: Path) -> data.DatasetSpec:
    """A dataset whose checksums are those of the synthetic files in ``mirror``."""
    files = {}
    for key, file in data.DATASETS["fashion-mnist"].files.items():
        raw = gzip.decompress((mirror / f"{file.name}.gz").read_bytes())
        files[key] = dataclasses.replace(file, sha256=hashlib.sha256(raw).hexdigest())
    return data.DatasetSpec("toy", files, mirrors=(mirror.as_uri() + "/",))


def test_download_verifies_and_keeps_only_good_files(isolated, monkeypatch):
    tmp = isolated
    mirror = data.make_synthetic(tmp / "mirror")
    monkeypatch.setitem(data.DATASETS, "toy", _mirror_spec(mirror))
    target = data.download("toy")
    assert target == tmp / "cache" / "rlgen" / "toy"
    images, _ = data.load("toy", data_dir=target, verify=True)
    assert images.shape == (64, 28, 28)
    # loading with download_missing finds the cache now
    assert data.load("toy", download_missing=True)[0].shape == (64, 28, 28)

    # a tampered mirror: the checksum fails and nothing is kept
    bad = data.make_synthetic(tmp / "bad-mirror", seed=9)
    for f in list(target.iterdir()):
        f.unlink()
    with pytest.raises(UserError, match=r"could not download .*checksum mismatch"):
        data.download("toy", mirrors=[bad.as_uri()])
    assert os.listdir(target) == []


def test_unknown_dataset_and_split(tmp_path):
    with pytest.raises(UserError, match="--dataset: unknown dataset 'cifar'"):
        data.find("cifar")
    data.make_synthetic(tmp_path)
    with pytest.raises(UserError, match="--split: unknown split 'valid'"):
        data.load("fashion-mnist", "valid", data_dir=tmp_path)


def test_the_installed_fashion_mnist_is_complete_and_verified():
    debian = Path(data.DATASETS["fashion-mnist"].debian_dir or "")
    if not (debian / "train-images-idx3-ubyte.gz").is_file():
        message = "Debian's dataset-fashion-mnist is not installed (make setup installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    images, labels = data.load("fashion-mnist", "test", data_dir=debian, verify=True)
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    assert np.bincount(labels).tolist() == [1000] * 10  # the test split is balanced


def _replace_split(directory, images=None, labels=None):
    if images is not None:
        data.write_idx(directory / "train-images-idx3-ubyte.gz", images)
    if labels is not None:
        data.write_idx(directory / "train-labels-idx1-ubyte.gz", labels)


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (None, np.full(20, 10, np.uint8), "label 10 found; labels are 0 to 9"),
        (np.zeros((20, 14, 56), np.uint8), None, r"shape \(20, 14, 56\); expected"),
        (np.full((20, 28, 28), np.nan, np.float32), None, "type float32"),
        (None, np.zeros(19, np.uint8), "do not match"),
        (np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), "holds no images"),
    ],
    ids=["labels-out-of-range", "wrong-shape", "float-with-nan", "count-mismatch", "empty"],
)
def test_every_load_refuses_a_dataset_of_the_wrong_layout(tmp_path, images, labels, message):
    data.make_synthetic(tmp_path, train=20, test=10)
    _replace_split(tmp_path, images, labels)
    with pytest.raises(UserError, match=message):
        data.load("fashion-mnist", "train", data_dir=tmp_path)


def test_a_corrupt_gzip_stream_and_an_overflowing_header_are_user_errors(tmp_path):
    data.write_idx(tmp_path / "t.idx.gz", np.arange(5000, dtype=np.uint8).reshape(5, 1000))
    raw = bytearray((tmp_path / "t.idx.gz").read_bytes())
    raw[30:60] = bytes(30)  # damage the deflate stream itself (zlib.error, not a short file)
    (tmp_path / "t.idx.gz").write_bytes(bytes(raw))
    with pytest.raises(UserError, match="corrupt"):
        data.read_idx(tmp_path / "t.idx.gz")
    header = bytes([0, 0, 8, 3]) + (2**32 - 1).to_bytes(4, "big") * 3
    (tmp_path / "huge.idx").write_bytes(header + b"\x00" * 10)
    with pytest.raises(UserError, match="corrupt IDX file"):
        data.read_idx(tmp_path / "huge.idx")
    (tmp_path / "cut.idx").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(UserError, match="header is cut short"):
        data.read_idx(tmp_path / "cut.idx")


def test_a_gzip_file_that_inflates_past_its_shape_is_not_read_beyond_it(tmp_path, monkeypatch):
    # 64 MB of zeros compress to 64 kB: read only as far as the header's shape needs (+1 byte)
    header = bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big")
    with gzip.open(tmp_path / "bomb.idx.gz", "wb") as f:
        f.write(header + bytes(64 << 20))
    reads: list[int] = []
    real = data._read_up_to
    monkeypatch.setattr(data, "_read_up_to", lambda f, n: reads.append(n) or real(f, n))
    with pytest.raises(UserError, match=r"shape \(10,\) needs 18 bytes, found more than 18"):
        data.read_idx(tmp_path / "bomb.idx.gz")
    assert reads == [11]
    claims = bytes([0, 0, 8, 3]) + (2**32 - 1).to_bytes(4, "big") * 3  # 2^96 bytes
    with gzip.open(tmp_path / "huge.idx.gz", "wb") as f:
        f.write(claims + bytes(100))
    with pytest.raises(UserError, match=r"--data-dir: huge\.idx\.gz's shape .* would need more"):
        data.read_idx(tmp_path / "huge.idx.gz")


def test_idx_files_round_trip_plain_and_gzipped_and_a_plain_one_with_extra_bytes_is_corrupt(
    tmp_path,
):
    array = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    for name in ("a.idx", "a.idx.gz"):
        assert np.array_equal(data.read_idx(data.write_idx(tmp_path / name, array)), array)
    (tmp_path / "b.idx").write_bytes((tmp_path / "a.idx").read_bytes() + b"\x00")
    with pytest.raises(UserError, match=r"needs 112 bytes, found 113"):
        data.read_idx(tmp_path / "b.idx")
