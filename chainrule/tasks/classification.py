"""Classification: the data sets ``chainrule train`` knows, its losses, accuracy, predictions.

The data loss is the lecture's multiclass SVM for ``linear-svm`` and softmax cross-entropy
otherwise; the metric is accuracy. ``predict`` gives a model's classes for a data set
(``chainrule evaluate``'s confusion matrix).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import data, nn
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..nn import functional as F


def loss_function(model_name: str) -> Callable[[Tensor, Any], Tensor]:
    """The data loss: the multiclass SVM for ``linear-svm``, softmax cross-entropy otherwise."""
    return F.svm_loss if model_name == "linear-svm" else F.cross_entropy


def load_data(spec: str, seed: int = 0) -> data.Splits:
    """``spiral``, ``digits``, ``mnist:DIR``, ``fashion-mnist:DIR`` or ``cifar10:DIR``.

    The spiral's validation set is a second draw of the same spiral (another seed).
    """
    kind, _, folder = spec.partition(":")
    if kind == "spiral" and not folder:
        return data.Splits(data.ArrayDataset(*data.spiral(seed=seed)), data.ArrayDataset(*data.spiral(seed=seed + 1)))
    if kind == "digits" and not folder:
        return data.load_digits(seed=seed)
    if kind in ("mnist", "fashion-mnist") and folder:
        return data.load_mnist(folder)
    if kind == "cifar10" and folder:
        return data.load_cifar10(folder)
    raise ValueError(f"unknown data {spec!r}; expected spiral, digits, mnist:DIR, fashion-mnist:DIR or cifar10:DIR")


@no_grad()
def predict(model: nn.Module, dataset: data.ArrayDataset, batch_size: int = 500) -> np.ndarray:
    """The class ``model`` gives each example (its highest score), in eval mode; the model's
    mode is restored.

    >>> import chainrule as cr
    >>> predict(cr.nn.Linear(2, 3), cr.data.ArrayDataset(*cr.data.spiral(seed=0))).shape
    (300,)
    """
    was_training = model.training
    model.eval()
    try:
        preds = [np.argmax(model(x).numpy(), axis=1) for x, _ in data.DataLoader(dataset, batch_size=batch_size, seed=0)]
    finally:
        model.train(was_training)
    return np.concatenate(preds)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class.

    >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), 2).tolist()
    [[1, 0], [1, 1]]
    """
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def accuracy(scores: Tensor, y: Any) -> float:
    """The share of rows whose highest score is the label.

    >>> import chainrule as cr
    >>> accuracy(cr.Tensor([[2.0, 1.0], [0.0, 3.0]]), [0, 0])
    0.5
    """
    labels = y.numpy() if isinstance(y, Tensor) else np.asarray(y)
    return float(np.mean(np.argmax(scores.numpy(), axis=1) == labels))
