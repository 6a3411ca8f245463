"""The image data of the generative commands: splits, subsets, binarisation, on one device.

Fashion-MNIST (default) or MNIST through :func:`rlgen.data.load` (``--data-dir``, ``$RLGEN_DATA``,
Debian's package, the cache), loaded once into float tensors (N, P) with grey levels in [0, 1].
A validation split is held out of the training set (the same images whatever the run's seed).
Binarisation:

- ``none``: grey levels;
- ``static``: one fixed Bernoulli sample of every image (pixel = 1 with probability its grey
  level), drawn once with a fixed seed (Salakhutdinov & Murray 2008);
- ``dynamic``: a fresh Bernoulli sample of every training image each epoch (drawn by the
  training loop's seeded generator, on the device); validation and test images are those of
  ``static``, so that every evaluation scores the same binary images.

The fixed samples are drawn from the whole training file and the whole test file, each with its
own seed, before they are split: static and dynamic runs, and runs with any ``--validation``,
``--train-size`` or ``--test-size``, score the same binary test images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from rlgen import data
from rlgen.errors import UserError, check_choice, check_config_types, check_range
from rlgen.training import Transform

BINARIZATIONS = ("none", "static", "dynamic")
SPLIT_SEED = 20_240_501
"""seeds the validation split and the fixed binarisations (not the run's seed: every run of a
dataset holds out, and scores, the same images)"""


@dataclass(frozen=True)
class DataConfig:
    """The images a generative model trains and is scored on."""

    dataset: Literal["fashion-mnist", "mnist"] = "fashion-mnist"
    """fashion-mnist or mnist (IDX files; see the README's Data section)"""
    data_dir: Path | None = None
    """look for the dataset's IDX files only here"""
    binarize: Literal["none", "static", "dynamic"] = "none"
    """none: grey levels; static: one fixed Bernoulli sample per image; dynamic: a fresh
    Bernoulli sample of every training image each epoch (the likelihood literature's convention)"""
    validation: int = 5000
    """training images held out for validation (scored after every --eval-every epochs)"""
    train_size: int | None = None
    """train on only this many images, after the validation split; None: all the rest"""
    test_size: int | None = None
    """score on only the first this many test images; None: all of them (10,000)"""

    def __post_init__(self) -> None:
        check_config_types(self)
        check_choice("dataset", self.dataset, tuple(data.DATASETS))
        check_choice("binarize", self.binarize, BINARIZATIONS)
        check_range("validation", self.validation, 0)
        if self.train_size is not None:
            check_range("train_size", self.train_size, 1)
        if self.test_size is not None:
            check_range("test_size", self.test_size, 1)


@dataclass
class Images:
    """The splits as tensors on one device: images (N, P) float32 in [0, 1], labels (N,) int64."""

    train: Tensor
    train_labels: Tensor
    validation: Tensor
    validation_labels: Tensor
    test: Tensor
    test_labels: Tensor
    side: int
    """images are side x side pixels"""
    binarize: str

    @property
    def pixels(self) -> int:
        return self.train.shape[1]

    @property
    def binarized(self) -> bool:
        return self.binarize != "none"

    def transform(self) -> Transform | None:
        """The training loop's per-epoch transform for ``--binarize dynamic`` (else None)."""
        return dynamic_binarization if self.binarize == "dynamic" else None


def dynamic_binarization(
    tensors: tuple[Tensor, ...], generator: torch.Generator
) -> tuple[Tensor, ...]:
    """A fresh Bernoulli sample of the images (first tensor), from the loop's generator."""
    images, *rest = tensors
    return (torch.bernoulli(images, generator=generator), *rest)


def binarized(images: Tensor, seed: int) -> Tensor:
    """A fixed Bernoulli sample of ``images``: each pixel 1 with probability its grey level."""
    return torch.bernoulli(images, generator=torch.Generator().manual_seed(seed))


def load_images(config: DataConfig, device: torch.device | str = "cpu") -> Images:
    """The splits of ``config`` on ``device``.

    Raises:
        UserError: the data is missing or corrupt, or the split sizes do not fit it.
    """
    x_train, y_train = data.load(config.dataset, "train", data_dir=config.data_dir)
    x_test, y_test = data.load(config.dataset, "test", data_dir=config.data_dir)
    side = x_train.shape[1]
    if x_train.shape[1] != x_train.shape[2] or x_test.shape[1:] != x_train.shape[1:]:
        raise UserError(
            f"{config.dataset}: square images of one size expected, got train "
            f"{x_train.shape[1:]} and test {x_test.shape[1:]}"
        )
    n = len(x_train)
    if config.validation >= n:
        raise UserError(
            f"--validation {config.validation} leaves no training images (the training set of "
            f"{config.dataset} has {n}); lower it"
        )
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    val_index, train_index = order[: config.validation], order[config.validation :]
    if config.train_size is not None:
        if config.train_size > len(train_index):
            raise UserError(
                f"--train-size {config.train_size}: only {len(train_index)} training images are "
                f"left after --validation {config.validation}"
            )
        train_index = train_index[: config.train_size]
    test_n = len(x_test) if config.test_size is None else config.test_size
    if test_n > len(x_test):
        raise UserError(
            f"--test-size {config.test_size}: the test set of {config.dataset} has only "
            f"{len(x_test)} images"
        )

    def tensor(images: np.ndarray) -> Tensor:
        flat = images.reshape(len(images), side * side).astype(np.float32)
        return torch.from_numpy(flat / 255.0)

    if config.binarize == "none":
        splits = [tensor(x_train[train_index]), tensor(x_train[val_index]), tensor(x_test[:test_n])]
    else:
        # Each file is binarised whole, by its own generator, before it is split: every run of a
        # dataset scores the same binary test (and validation) images, whatever its --binarize,
        # --validation, --train-size or --test-size (a --test-size is a prefix of them).
        test = binarized(tensor(x_test), SPLIT_SEED)[:test_n]
        train_file = binarized(tensor(x_train), SPLIT_SEED + 1)
        if config.binarize == "static":
            splits = [train_file[train_index], train_file[val_index], test]
        else:  # dynamic: the training images stay grey, the loop binarises them each epoch
            splits = [tensor(x_train[train_index]), train_file[val_index], test]
    labels = [y_train[train_index], y_train[val_index], y_test[:test_n]]
    train, validation, test = (s.to(device) for s in splits)
    ytrain, yval, ytest = (torch.from_numpy(y.astype(np.int64)).to(device) for y in labels)
    return Images(train, ytrain, validation, yval, test, ytest, side, config.binarize)
