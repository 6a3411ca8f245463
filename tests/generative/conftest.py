"""Generative tests: one torch thread (the networks are tiny; the cores are shared)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread(one_torch_thread):
    """Every generative test runs on one torch thread."""


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    """A generated Fashion-MNIST-like dataset: 320 training and 160 test images."""
    from rlgen.data import make_synthetic

    return make_synthetic(tmp_path_factory.mktemp("data") / "synthetic", train=320, test=160)


@pytest.fixture(scope="session")
def images(synthetic_dir):
    """(320, 784) float training images in [0, 1] and their labels."""
    from rlgen.data import load

    x, y = load("fashion-mnist", "train", data_dir=synthetic_dir)
    return torch.from_numpy(x).reshape(len(x), -1).float() / 255, torch.from_numpy(y).long()
