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


def test_the_linear_autoencoders_pca_subspace_is_that_of_the_images_it_trained_on():
    # --binarize dynamic trains on Bernoulli samples of the grey images, whose covariance adds
    # each pixel's Bernoulli variance mean(g (1 - g)): pixel 0 (grey levels 0.4 and 0.6: variance
    # 0.01 grey, 0.25 sampled) leads pixel 1 (grey levels 0 and 0.6: 0.09 grey, 0.21 sampled)
    # only once sampled. pca_max_angle compared the decoder with the grey images' subspace: 90
    # degrees for the right decoder.
    from rlgen.generative.command import AETrainConfig
    from rlgen.generative.images import Images
    from rlgen.generative.models import AEConfig, Autoencoder
    from rlgen.generative.scoring import score_ae

    n = 400
    grey = np.zeros((n, 4), np.float32)
    grey[:, 0] = np.tile([0.4, 0.6], n // 2)  # uncorrelated with pixel 1
    grey[:, 1] = np.tile([0.0, 0.0, 0.6, 0.6], n // 4)
    x = torch.from_numpy(grey)
    labels = torch.zeros(n, dtype=torch.int64)
    config = AETrainConfig(model=AEConfig(kind="linear", latent=1))
    model = Autoencoder(config.model, pixels=4)
    with torch.no_grad():
        model.decoder.weight.copy_(torch.tensor([[1.0], [0.0], [0.0], [0.0]]))
    for binarize, expected in (("dynamic", 0.0), ("none", np.pi / 2)):
        images = Images(x, labels, x[:0], labels[:0], x, labels, 2, binarize)
        angle = score_ae(model, config, images)["pca_max_angle"]
        assert angle == pytest.approx(expected, abs=1e-6), binarize


def test_sampled_pca_basis_is_the_pca_of_bernoulli_samples():
    from rlgen.generative.measures import pca_basis, principal_angles, sampled_pca_basis

    rng = np.random.default_rng(1)
    p = rng.uniform(size=(50, 6)) ** np.array([1, 2, 4, 0.5, 0.3, 8])  # unequal variances
    samples = rng.random((4000, 50, 6)) < p  # 4000 fresh samples of every row
    empirical = pca_basis(samples.reshape(-1, 6).astype(np.float64), 2)
    # sampling spread: 0.011 to 0.023 rad over other seeds of the samples; the grey rows' own
    # subspace is 0.48 rad away
    assert principal_angles(empirical, sampled_pca_basis(p, 2)).max() < 0.05
    assert principal_angles(pca_basis(p, 2), sampled_pca_basis(p, 2)).max() > 0.4
