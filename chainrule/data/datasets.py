"""The built-in data, with no download: the course's spiral and scikit-learn's 8x8 digits; and
``validation_split``."""

from __future__ import annotations

import numpy as np

from .dataset import ArrayDataset, Splits


def spiral(n_per_class: int = 100, classes: int = 3, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The course notes' spiral: ``classes`` arms of ``n_per_class`` 2-D points, not linearly separable.

    Arm j has radius going 0 -> 1 and angle going 4j -> 4(j+1) plus N(0, noise^2) jitter.

    >>> x, y = spiral()
    >>> x.shape, y.shape, np.bincount(y).tolist()
    ((300, 2), (300,), [100, 100, 100])
    """
    g = np.random.default_rng(seed)
    xs, ys = [], []
    for j in range(classes):
        r = np.linspace(0.0, 1, n_per_class)
        t = np.linspace(j * 4, (j + 1) * 4, n_per_class) + g.standard_normal(n_per_class) * noise
        xs.append(np.c_[r * np.sin(t), r * np.cos(t)])
        ys.append(np.full(n_per_class, j))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> Splits:
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return Splits(ArrayDataset(x[train], y[train]), ArrayDataset(x[test], y[test]))


def validation_split(dataset: ArrayDataset, fraction: float, seed: int = 0) -> tuple[ArrayDataset, ArrayDataset]:
    """(train, validation): ``fraction`` of each class, chosen by ``seed``, held out for validation.

    Carved from the *training* data, so model choices made on validation numbers never
    see the test split. Per class, so a small data set's validation set keeps its mix.

    >>> ds = ArrayDataset(np.arange(20.0).reshape(10, 2), np.array([0, 1] * 5))
    >>> train, val = validation_split(ds, 0.2, seed=0)
    >>> len(train), len(val), sorted(val.y.tolist())
    (8, 2, [0, 1])
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation_split: fraction {fraction} is not between 0 and 1 (exclusive)")
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(dataset.y):
        members = np.flatnonzero(dataset.y == c)
        val.append(rng.permutation(members)[: round(len(members) * fraction)])
    held = np.zeros(len(dataset.y), dtype=bool)
    held[np.concatenate(val)] = True
    if held.all() or not held.any():
        raise ValueError(f"validation_split: {len(dataset.y)} examples with fraction {fraction} leave "
                         f"{int((~held).sum())} for training and {int(held.sum())} for validation; expected both > 0")
    return (ArrayDataset(dataset.x[~held], dataset.y[~held]),
            ArrayDataset(dataset.x[held], dataset.y[held]))  # fmt: skip


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Splits:
    """scikit-learn's 1,797 handwritten digits (8x8, bundled with it: no download), split in two.

    Images are (N, 1, 8, 8) in [0, 1]; ``test_fraction`` of them (chosen by ``seed``)
    are held out.
    """
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError as e:
        raise ImportError("digits: scikit-learn is not installed; install it with pip install 'chainrule[data]'") from e
    d = sk_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    return _split(x, d.target.astype(np.int64), test_fraction, seed)
