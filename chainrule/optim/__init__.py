"""Optimizers and learning-rate schedules.

Each optimizer is one class whose ``_update`` is its paper's rule, written on the raw
arrays in place (no graph: ``step`` runs under ``no_grad``). ``w`` is a parameter's
values, ``dw`` its gradient, as in the lecture's ``weights += -step_size * weights_grad``.
Defaults match ``torch.optim``, and a test runs ten steps of each against it.

One file per algorithm (``sgd.py``, ``adam.py``, ...), the base class in ``optimizer.py`` and
the schedules in ``lr_scheduler.py``, as in ``torch.optim``.
"""

from .adagrad import AdaGrad
from .adam import Adam
from .adamw import AdamW
from .clip_grad import clip_grad_norm
from .lr_scheduler import CosineAnnealingLR, ExponentialLR, LRScheduler, StepLR
from .optimizer import Optimizer
from .rmsprop import RMSProp
from .sgd import SGD

__all__ = ["SGD", "AdaGrad", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "LRScheduler",
           "Optimizer", "RMSProp", "StepLR", "clip_grad_norm"]  # fmt: skip
