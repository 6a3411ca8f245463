"""The k-nearest-neighbour accuracy of the 2-D codes, against a direct computation."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.generative.measures import knn_accuracy


def _direct(train, y_train, test, y_test, k):
    correct = 0
    for code, label in zip(test, y_test, strict=True):
        nearest = np.argsort(((train - code) ** 2).sum(1), kind="stable")[:k]
        votes = np.bincount(y_train[nearest], minlength=y_train.max() + 1)
        correct += int(votes.argmax() == label)
    return correct / len(test)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_knn_accuracy_is_the_majority_vote_of_the_nearest_codes(k):
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 4, 300), rng.integers(0, 4, 250)
    train = rng.normal(size=(300, 2)) + y_train[:, None]  # classes overlap: votes are mixed
    test = rng.normal(size=(250, 2)) + y_test[:, None]
    measured = knn_accuracy(train, y_train, test, y_test, k=k, batch=64)
    assert measured == _direct(train, y_train, test, y_test, k)
    assert 0.25 < measured < 1  # far from chance, not perfect


def test_knn_accuracy_with_fewer_training_codes_than_k_uses_them_all():
    train, y_train = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]]), np.array([0, 0, 1])
    test, y_test = np.array([[5.0, 5.0], [0.5, 0.0]]), np.array([1, 0])
    assert knn_accuracy(train, y_train, test, y_test, k=10) == 0.5  # all 3 vote: class 0 twice
    with pytest.raises(ValueError, match="at least one"):
        knn_accuracy(train[:0], y_train[:0], test, y_test)
