"""Shared test fixtures: tests never need the network, a GPU or a terminal."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def one_torch_thread():
    """Torch on one thread during the test (its networks are tiny; the cores are shared). A
    module asks for it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def run_dir(tmp_path):
    """A fresh run directory path (not yet created)."""
    return tmp_path / "run"
