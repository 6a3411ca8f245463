"""Shared test fixtures: tests never need the network, a GPU or a terminal."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def run_dir(tmp_path):
    """A fresh run directory path (not yet created)."""
    return tmp_path / "run"
