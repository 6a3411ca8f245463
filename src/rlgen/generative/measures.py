"""What the lecture's pictures show, as numbers: subspaces, neighbourhoods, diversity, holes.

NumPy in, floats out (float64 throughout), so that the report and the tests can call them on any
arrays: codes, images, decoder weights.
"""

from __future__ import annotations

import numpy as np


def pca_basis(data: np.ndarray, m: int) -> np.ndarray:
    """The top-``m`` principal directions of ``data`` (N, d), as orthonormal columns (d, m)."""
    centred = data - data.mean(0)
    _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    return vt[:m].T


def sampled_pca_basis(probabilities: np.ndarray, m: int) -> np.ndarray:
    """The top-``m`` principal directions (d, m) of Bernoulli samples of ``probabilities``
    (N, d) in [0, 1], each row sampled afresh (dynamic binarisation): the eigenvectors of
    Cov(p) + diag(mean(p (1 - p))), the covariance of the samples (law of total covariance)."""
    p = np.asarray(probabilities, np.float64)
    cov = np.atleast_2d(np.cov(p, rowvar=False, bias=True)) + np.diag((p * (1 - p)).mean(0))
    _, vectors = np.linalg.eigh(cov)  # ascending eigenvalues
    return vectors[:, ::-1][:, :m]


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spans of ``a`` and ``b``."""
    from scipy.linalg import subspace_angles

    return np.sort(subspace_angles(np.asarray(a, np.float64), np.asarray(b, np.float64)))


def column_cosines(w: np.ndarray) -> np.ndarray:
    """|cos| of the angles between every pair of columns of ``w`` (d, m): (m (m - 1) / 2,)."""
    unit = w / np.linalg.norm(w, axis=0, keepdims=True)
    gram = np.abs(unit.T @ unit)
    return gram[np.triu_indices(w.shape[1], k=1)]


def knn_accuracy(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    k: int = 10,
    batch: int = 1000,
) -> float:
    """Accuracy of a k-nearest-neighbour majority vote (Euclidean) on the codes; ``k`` is at
    most the number of training codes (a tied vote goes to the lowest class)."""
    if len(train_codes) == 0 or len(test_codes) == 0:
        raise ValueError("knn_accuracy needs at least one training and one test code")
    k = min(k, len(train_codes))
    train_codes = np.asarray(train_codes, np.float64)
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    correct = 0
    for start in range(0, len(test_codes), batch):
        codes = np.asarray(test_codes[start : start + batch], np.float64)
        d = squared_distances(codes, train_codes)
        nearest = np.argpartition(d, k - 1, axis=1)[:, :k]  # (b, k)
        votes = np.zeros((len(codes), classes))
        np.add.at(votes, (np.arange(len(codes))[:, None], train_labels[nearest]), 1)
        correct += int((votes.argmax(1) == test_labels[start : start + batch]).sum())
    return correct / len(test_codes)


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) squared Euclidean distances, clipped at 0 against rounding."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0.0)


def mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance between distinct rows of ``x`` (n, d): sample diversity."""
    x = np.asarray(x, np.float64)
    n = len(x)
    d = np.sqrt(squared_distances(x, x))
    return float(d.sum() / (n * (n - 1)))


def nearest_distances(points: np.ndarray, reference: np.ndarray, batch: int = 1000) -> np.ndarray:
    """For each row of ``points``, the Euclidean distance to its nearest row of ``reference``."""
    points, reference = np.asarray(points, np.float64), np.asarray(reference, np.float64)
    out = np.empty(len(points))
    for start in range(0, len(points), batch):
        d = squared_distances(points[start : start + batch], reference)
        out[start : start + batch] = np.sqrt(d.min(1))
    return out


def nearest_other_distances(points: np.ndarray, k: int, batch: int = 500) -> np.ndarray:
    """For each of the first ``k`` rows of ``points``, the distance to its nearest other row."""
    points = np.asarray(points, np.float64)
    k = min(k, len(points))
    out = np.empty(k)
    for start in range(0, k, batch):
        stop = min(start + batch, k)
        d = squared_distances(points[start:stop], points)
        d[np.arange(stop - start), np.arange(start, stop)] = np.inf  # not itself
        out[start:stop] = np.sqrt(d.min(1))
    return out
