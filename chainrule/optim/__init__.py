"""Optimizers and learning-rate schedules: PyTorch's ``torch.optim``.

An optimizer holds ``param_groups`` (dicts of parameters and their options; ``defaults`` fill
what a group leaves out) and ``state`` (a dict per parameter, keyed by the parameter, with
PyTorch's names: ``step``, ``exp_avg``, ``momentum_buffer``...). Each algorithm is one class
whose ``_update`` is its paper's rule, the formula in comments, written on the raw arrays in
place (no graph: ``step`` runs under ``no_grad``). ``w`` is a parameter's values, ``dw`` its
gradient, as in the lecture's ``weights += -step_size * weights_grad``. Arguments, defaults
and ``state_dict()`` follow ``torch.optim``: a PyTorch optimizer's state dict (its tensors as
arrays) loads and continues identically, and tests compare every option, step by step, with
it. ``step(closure)`` re-evaluates the loss first (``LBFGS`` needs it). Step counts are ints.

One file per algorithm (``sgd.py``, ``adam.py``, ``lbfgs.py``, ...), the base class in
``optimizer.py`` and the schedules in ``lr_scheduler.py``, as in ``torch.optim``. Older
chainrule spellings still work: ``opt.lr`` (group 0's rate; setting it sets every group's),
``opt.params``, ``AdaGrad`` and ``RMSProp``, ``CosineAnnealingLR(t_max=)``, and state dicts
and checkpoints written before the groups. Gradient clipping lives in ``chainrule.nn.utils``
as in PyTorch; ``clip_grad_norm`` (and the ``clip_grad`` module) are re-exported here, where
chainrule has always had them.
"""

# clip_grad, the module that was optim/clip_grad.py, still has its name here
from ..nn.utils import clip_grad as clip_grad
from ..nn.utils import clip_grad_norm
from . import lr_scheduler as lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .lbfgs import LBFGS
from .lr_scheduler import (
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiplicativeLR,
    MultiStepLR,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

AdaGrad = Adagrad  # chainrule's spellings before PyTorch's
RMSProp = RMSprop

__all__ = ["SGD", "AdaGrad", "Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "LBFGS", "NAdam", "RAdam", "RMSProp",
           "RMSprop", "ChainedScheduler", "ConstantLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR",
           "ExponentialLR", "LambdaLR", "LinearLR", "LRScheduler", "MultiplicativeLR", "MultiStepLR", "OneCycleLR",
           "Optimizer", "PolynomialLR", "ReduceLROnPlateau", "SequentialLR", "StepLR", "clip_grad_norm",
           "lr_scheduler"]  # fmt: skip
