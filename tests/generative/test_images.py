"""The generative commands' image splits: disjoint splits, fixed binarisations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlgen.data import load
from rlgen.generative.images import SPLIT_SEED, DataConfig, load_images


def split(synthetic_dir, **options):
    return load_images(DataConfig(data_dir=synthetic_dir, **options))


def rows(images: torch.Tensor) -> set[bytes]:
    return {r.tobytes() for r in (images * 255).round().to(torch.uint8).numpy()}


def test_validation_is_disjoint_from_training_and_the_test_set_is_the_test_file(synthetic_dir):
    images = split(synthetic_dir, validation=40)
    x_train, _ = load("fashion-mnist", "train", data_dir=synthetic_dir)
    x_test, _ = load("fashion-mnist", "test", data_dir=synthetic_dir)
    assert len(images.train) + len(images.validation) == len(x_train)
    assert not rows(images.train) & rows(images.validation)
    assert rows(images.train) | rows(images.validation) == {r.tobytes() for r in x_train}
    assert rows(images.test) == {r.tobytes() for r in x_test}


@pytest.mark.parametrize(
    "other",
    [
        {"binarize": "dynamic", "validation": 40},
        {"binarize": "static", "validation": 40, "train_size": 100},
        {"binarize": "dynamic", "validation": 20},
        {"binarize": "static", "validation": 40, "test_size": 50},
    ],
)
def test_every_run_scores_the_same_binarised_test_and_validation_images(synthetic_dir, other):
    # the test images' binarisation drew from the generator after the training (static) or the
    # validation images: static and dynamic runs, or runs with another --train-size or
    # --validation, scored different binary test images
    reference = split(synthetic_dir, binarize="static", validation=40)
    images = split(synthetic_dir, **other)
    n = len(images.test)
    assert torch.equal(images.test, reference.test[:n])
    v = len(images.validation)
    assert torch.equal(images.validation, reference.validation[:v])
    if other["binarize"] == "static" and "train_size" not in other:
        assert torch.equal(images.train, reference.train)


def test_binarised_images_are_bernoulli_samples_of_the_grey_levels(synthetic_dir):
    grey = split(synthetic_dir, validation=40)
    binary = split(synthetic_dir, binarize="static", validation=40)
    for g, b in ((grey.train, binary.train), (grey.test, binary.test)):
        assert set(b.unique().tolist()) <= {0.0, 1.0}
        # each pixel is 1 with probability its grey level: compare the means over the pixels
        # whose level is above 0.5 (bars) and below (background)
        for mask in (g > 0.5, g <= 0.5):
            p = float(g[mask].double().mean())
            se = np.sqrt(p * (1 - p) / int(mask.sum()))
            assert abs(float(b[mask].double().mean()) - p) < 4 * se
    dynamic = split(synthetic_dir, binarize="dynamic", validation=40)
    assert torch.equal(dynamic.train, grey.train)  # binarised by the loop, each epoch
    assert dynamic.transform() is not None and binary.transform() is None


def test_the_test_binarisation_is_that_of_the_whole_test_file_with_the_split_seed(synthetic_dir):
    # keeps the binary test images every dynamic --validation 0 run scored before the fix
    x_test, _ = load("fashion-mnist", "test", data_dir=synthetic_dir)
    grey = torch.from_numpy(x_test.reshape(len(x_test), -1).astype(np.float32) / 255.0)
    expected = torch.bernoulli(grey, generator=torch.Generator().manual_seed(SPLIT_SEED))
    assert torch.equal(split(synthetic_dir, binarize="dynamic", validation=0).test, expected)
