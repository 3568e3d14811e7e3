"""AlexNet, the lecture's big convolutional graph.

AlexNet here follows the standard single-tower layout that torchvision ships (five
convolutions, three max-pools, adaptive average pooling to 6x6, dropout, three linear
layers: 61,100,840 parameters for 1,000 classes), not the 2012 paper's network split over
two GPUs with local response normalization. Parameter names match torchvision's
(``features.0.weight`` ... ``classifier.6.bias``), so its weights load directly. The layers
keep PyTorch's default initialization, as torchvision's AlexNet does (it sets none of its
own), so a run ported from PyTorch starts from the same distributions.
"""

from __future__ import annotations

from typing import Any

from .. import nn
from ..autograd.tensor import Tensor

__all__ = ["AlexNet", "AlexNetCifar", "alexnet"]


class _FeaturesPoolClassifier(nn.Module):
    """AlexNet's shape: convolutional features, adaptive average pooling, a classifier."""

    features: nn.Sequential
    avgpool: nn.AdaptiveAvgPool2d
    classifier: nn.Sequential

    def forward(self, x: Any) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


class AlexNet(_FeaturesPoolClassifier):
    """Single-tower AlexNet for 224x224 RGB images.

    >>> import chainrule as cr
    >>> sum(p.numel() for p in alexnet().parameters())
    61100840
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        )  # fmt: skip
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes),
        )  # fmt: skip


def alexnet(num_classes: int = 1000) -> AlexNet:
    """AlexNet as torchvision lays it out (see the module docstring)."""
    return AlexNet(num_classes)


class AlexNetCifar(_FeaturesPoolClassifier):
    """AlexNet's shape scaled to small images (CIFAR's 32x32, or digits' 8x8).

    Five 3x3 convolutions (64, 192, 384, 256, 256 channels) with three 2x2 max-pools,
    adaptive pooling to 2x2, and the three linear layers at width 1024.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> AlexNetCifar(10)(cr.Tensor(np.zeros((2, 3, 32, 32)))).shape
    (2, 10)
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 2 * 2, 1024), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(1024, 1024), nn.ReLU(),
            nn.Linear(1024, num_classes),
        )  # fmt: skip
