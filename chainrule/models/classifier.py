"""The classifiers ``chainrule train`` builds by name: linear (SVM or softmax), MLP, CNN, AlexNet.

Each is a plain ``nn.Sequential`` (AlexNet its own module), so its ``state_dict`` keys are
the ones PyTorch would give the same layers. ``model_from_weights`` rebuilds one from a
file ``chainrule train`` wrote, checking the header before anything is allocated.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn
from ..serialization import load, load_header
from .alexnet import AlexNetCifar

MODELS = ("linear-svm", "linear-softmax", "mlp", "cnn", "alexnet-cifar")


ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, hidden: int = 100, depth: int = 1,
                activation: str = "relu") -> nn.Module:  # fmt: skip
    """One of ``MODELS`` for inputs of ``input_shape`` (one example's shape).

    The mlp has ``depth`` hidden layers of ``hidden`` units with ``activation``. The mlp and
    the cnn start from the course's initialization (He for ReLU, Glorot for sigmoid and
    tanh, zero biases); the linear classifiers and AlexNet from PyTorch's defaults.

    >>> build_model("mlp", (2,), 3)
    Sequential(
      (0): Flatten(start_dim=1, end_dim=-1)
      (1): Linear(in_features=2, out_features=100, bias=True)
      (2): ReLU()
      (3): Linear(in_features=100, out_features=3, bias=True)
    )
    """
    d = int(np.prod(input_shape))
    if name in ("linear-svm", "linear-softmax"):
        # PyTorch's default init: the loss of a linear classifier is convex, so where training
        # ends does not hang on the start, and a PyTorch user's nn.Linear(d, k) starts alike
        return nn.Sequential(nn.Flatten(), nn.Linear(d, num_classes))
    if name == "mlp":
        if activation not in ACTIVATIONS:
            raise ValueError(f"mlp: activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
        # the course's lesson, so explicit (not PyTorch's default): He keeps a ReLU net's signal
        # at scale, Glorot a sigmoid or tanh net's; the vanishing-gradient demo compares the two
        how = "kaiming" if activation == "relu" else "xavier"
        layers: list[nn.Module] = [nn.Flatten()]
        for i in range(depth):
            layers += [nn.Linear(d if i == 0 else hidden, hidden, init=how), ACTIVATIONS[activation]()]
        return nn.Sequential(*layers, nn.Linear(hidden, num_classes, init=how))
    if name == "cnn":
        if len(input_shape) != 3 or min(input_shape[1:]) < 4:
            raise ValueError(f"cnn: inputs of shape {tuple(input_shape)}; expected images (C, H, W) of at least 4x4")
        c, h, w = input_shape
        he = "kaiming"  # the course's conv-relu-pool net is a ReLU net: He, as the mlp (and as measured)
        return nn.Sequential(
            nn.Conv2d(c, 16, 3, padding=1, init=he), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1, init=he), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * (h // 4) * (w // 4), 128, init=he), nn.ReLU(),
            nn.Linear(128, num_classes, init=he),
        )  # fmt: skip
    if name == "alexnet-cifar":
        if len(input_shape) != 3:
            raise ValueError(f"alexnet-cifar: inputs of shape {tuple(input_shape)}; expected images (C, H, W)")
        return AlexNetCifar(num_classes, in_channels=input_shape[0])
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


def parameter_count(name: str, input_shape: tuple[int, ...], num_classes: int, hidden: int = 100, depth: int = 1) -> int:
    """How many numbers ``build_model`` would allocate, computed without building it.

    >>> parameter_count("mlp", (2,), 3) == sum(p.numel() for p in build_model("mlp", (2,), 3).parameters())
    True
    """
    def linear(i: int, o: int) -> int:
        return i * o + o

    def conv(i: int, o: int) -> int:  # 3x3 kernels
        return 9 * i * o + o

    d = math.prod(input_shape)
    if name in ("linear-svm", "linear-softmax"):
        return linear(d, num_classes)
    if name == "mlp":
        return linear(d, hidden) + (depth - 1) * linear(hidden, hidden) + linear(hidden, num_classes)
    c = input_shape[0]
    if name == "cnn":
        return conv(c, 16) + conv(16, 32) + linear(32 * (input_shape[1] // 4) * (input_shape[2] // 4), 128) + linear(128, num_classes)
    if name == "alexnet-cifar":
        convs = conv(c, 64) + conv(64, 192) + conv(192, 384) + conv(384, 256) + conv(256, 256)
        return convs + linear(1024, 1024) + linear(1024, 1024) + linear(1024, num_classes)
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


def model_from_weights(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The model ``chainrule train`` saved in ``path`` and the file's metadata.

    The header is checked before anything is built: the settings' types and ranges, and
    the size they imply against the numbers the file actually holds, so a header asking
    for a huge layer is refused in one line instead of allocated.
    """
    meta, shapes = load_header(path)
    cfg = meta.get("config")
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: no model description; expected weights written by chainrule train")
    shape, k = meta.get("input_shape"), meta.get("num_classes")
    hidden, depth = cfg.get("hidden", 100), cfg.get("depth", 1)

    def count(v: Any) -> bool:
        return type(v) is int and 0 < v < 2**31

    problems = []
    if cfg.get("model") not in MODELS:
        problems.append(f"model {cfg.get('model')!r} (expected one of {', '.join(MODELS)})")
    if not (isinstance(shape, list) and 1 <= len(shape) <= 3 and all(map(count, shape))):
        problems.append(f"input_shape {shape!r} (expected 1 to 3 sizes > 0)")
    if cfg.get("model") in ("cnn", "alexnet-cifar") and isinstance(shape, list) and len(shape) != 3:
        problems.append(f"input_shape {shape!r} (a {cfg.get('model')} takes images (C, H, W))")
    for name, v in (("num_classes", k), ("hidden", hidden), ("depth", depth)):
        if not count(v):
            problems.append(f"{name} {v!r} (expected an int > 0)")
    if cfg.get("activation", "relu") not in ACTIVATIONS:
        problems.append(f"activation {cfg.get('activation')!r} (expected one of {', '.join(ACTIVATIONS)})")
    if not isinstance(cfg.get("data"), str) or type(cfg.get("seed", 0)) is not int:
        problems.append("data and seed (expected a data name and an int)")
    if problems:
        raise ValueError(f"{path}: bad model description in the header: {'; '.join(problems)}")
    implied = parameter_count(cfg["model"], tuple(shape), k, hidden, depth)
    held = sum(math.prod(s) for s in shapes.values())
    if implied != held:
        raise ValueError(f"{path}: the header describes a {cfg['model']} of {implied:,} parameters, but the file "
                         f"holds {held:,} numbers; refused before building it")  # fmt: skip
    model = build_model(cfg["model"], tuple(shape), k, hidden, depth, cfg.get("activation", "relu"))
    load(path, model)
    return model, meta
