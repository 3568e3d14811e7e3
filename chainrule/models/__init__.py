"""The built-in models, each a plain ``nn.Module`` (or ``nn.Sequential``) in a file of its own.

``classifier`` builds the classifiers ``chainrule train`` knows by name (linear SVM and
softmax, the MLP, the small CNN, AlexNet sized for small images) and rebuilds one from the
weights a run saved; ``alexnet`` is AlexNet as torchvision lays it out (its weights load);
``ntm`` is the Neural Turing Machine with its addressing, one function per step of the
paper; ``lstm`` its baseline (and the character LSTM); ``gpt`` a GPT as nanoGPT writes one. Models know no data and no loss: ``chainrule.tasks`` does.

>>> import chainrule as cr
>>> list(cr.models.build_model("mlp", (2,), 3).state_dict())
['1.weight', '1.bias', '3.weight', '3.bias']
"""

from __future__ import annotations

from . import classifier, gpt, lstm, ntm
from .alexnet import AlexNet, AlexNetCifar, alexnet
from .classifier import ACTIVATIONS, MODELS, build_model, model_from_weights, parameter_count
from .gpt import GPT, GPTConfig
from .lstm import CharLSTM, LSTMBaseline
from .ntm import NTM

__all__ = ["ACTIVATIONS", "GPT", "MODELS", "NTM", "CharLSTM", "GPTConfig", "AlexNet", "AlexNetCifar", "LSTMBaseline", "alexnet", "build_model",
           "classifier", "gpt", "lstm", "model_from_weights", "ntm", "parameter_count"]  # fmt: skip
# ``models.alexnet`` is the function (the module is ``chainrule.models.alexnet`` in sys.modules),
# as in torchvision
