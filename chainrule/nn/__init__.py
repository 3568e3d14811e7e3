"""Neural networks: ``Module``, layers, and the stateless functions they call.

>>> import chainrule as cr
>>> net = cr.nn.Sequential(cr.nn.Linear(2, 100), cr.nn.ReLU(), cr.nn.Linear(100, 3))
>>> scores = net(cr.Tensor([[0.1, 0.2]]))
>>> loss = cr.nn.functional.cross_entropy(scores, [2]) + 1e-3 * cr.nn.functional.l2_penalty(net)
>>> loss.backward()
>>> net[0].weight.grad.shape
(100, 2)
"""

from . import activation, functional, init
from .activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softsign,
    Tanh,
)
from .layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    MaxPool2d,
)
from .module import Module, ModuleDict, ModuleList, Parameter, ParameterDict, ParameterList, Sequential
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .summary import Summary, summary

__all__ = [
    "GELU", "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout", "Embedding", "Flatten",
    "LayerNorm", "LeakyReLU", "Linear", "MaxPool2d", "Module", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "functional", "Identity", "ModuleDict", "ModuleList", "ParameterDict",
    "ParameterList", "Summary", "summary", "init", "GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell",
    "activation", "CELU", "ELU", "GLU", "SELU", "Hardsigmoid", "Hardswish", "Hardtanh", "LogSigmoid", "LogSoftmax",
    "Mish", "ReLU6", "SiLU", "Softmin", "Softplus", "Softsign",
]  # fmt: skip
