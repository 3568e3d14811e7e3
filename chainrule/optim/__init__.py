"""Optimizers and learning-rate schedules.

Each optimizer is one class whose ``_update`` is its paper's rule, written on the raw
arrays in place (no graph: ``step`` runs under ``no_grad``). ``w`` is a parameter's
values, ``dw`` its gradient, as in the lecture's ``weights += -step_size * weights_grad``.
Defaults match ``torch.optim``, and a test runs ten steps of each against it.

One file per algorithm (``sgd.py``, ``adam.py``, ...), the base class in ``optimizer.py`` and
the schedules in ``lr_scheduler.py``, as in ``torch.optim``. Gradient clipping lives in
``chainrule.nn.utils`` as in PyTorch; ``clip_grad_norm`` (and the ``clip_grad`` module) are
re-exported here, where chainrule has always had them.
"""

# clip_grad, the module that was optim/clip_grad.py, still has its name here
from ..nn.utils import clip_grad as clip_grad
from ..nn.utils import clip_grad_norm
from .adagrad import AdaGrad
from .adam import Adam
from .adamw import AdamW
from .lr_scheduler import CosineAnnealingLR, ExponentialLR, LRScheduler, StepLR
from .optimizer import Optimizer
from .rmsprop import RMSProp
from .sgd import SGD

__all__ = ["SGD", "AdaGrad", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "LRScheduler",
           "Optimizer", "RMSProp", "StepLR", "clip_grad_norm"]  # fmt: skip
