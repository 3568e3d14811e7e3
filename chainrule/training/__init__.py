"""Training: the one loop (``fit``) for every model and task, and the runs ``chainrule train`` knows.

``loop`` is ``fit`` (Keras's and Lightning's shape: a progress bar with loss and throughput,
a validation line per epoch, callbacks, early stop on divergence, resume from the
checkpoint, the compiled and distributed options) and ``evaluate``; ``rundir`` holds a run's
output folder (a lock, a killed run's leftovers); ``plots`` draws the curves and pictures;
``runs`` is ``chainrule train``: a built-in model and task through ``fit``.

>>> import io, chainrule as cr
>>> X, y = cr.data.spiral(seed=0)
>>> net = cr.nn.Sequential(cr.nn.Linear(2, 3))
>>> h = cr.training.fit(net, (X, y), loss=cr.nn.functional.cross_entropy, epochs=2,
...                     optimizer=cr.optim.SGD(net.parameters(), lr=0.5), progress=False, log=io.StringIO())
>>> [row["epoch"] for row in h]
[1, 2]
"""

from __future__ import annotations

from . import loop, plots, rundir, runs
from .loop import Callback, Diverged, FitState, History, evaluate, fit
from .rundir import FolderBusy, claim
from .runs import (
    OPTIMIZERS,
    AnnealOnce,
    Config,
    Run,
    language_model_from_weights,
    make_optimizer,
    train_classifier,
    train_language,
    train_sequence,
)

__all__ = ["OPTIMIZERS", "AnnealOnce", "Callback", "Config", "Diverged", "FitState", "FolderBusy", "History", "Run",
           "claim", "evaluate", "fit", "language_model_from_weights", "loop", "make_optimizer", "plots", "rundir",
           "runs", "train_classifier", "train_language", "train_sequence"]  # fmt: skip
