"""Neural networks: ``Module``, layers, and the stateless functions they call.

Laid out as ``torch.nn``: ``modules/`` (the layers, one file per family), ``functional.py``,
``init.py``, ``parameter.py`` (``Parameter``) and ``utils/`` (gradient clipping, ``summary``).

>>> import chainrule as cr
>>> net = cr.nn.Sequential(cr.nn.Linear(2, 100), cr.nn.ReLU(), cr.nn.Linear(100, 3))
>>> scores = net(cr.Tensor([[0.1, 0.2]]))
>>> loss = cr.nn.functional.cross_entropy(scores, [2]) + 1e-3 * cr.nn.functional.l2_penalty(net)
>>> loss.backward()
>>> net[0].weight.grad.shape
(100, 2)
"""

from . import functional, init, modules, parameter, utils
from .modules import (
    CELU,
    ELU,
    GELU,
    GLU,
    GRU,
    LSTM,
    RNN,
    SELU,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    BCELoss,
    BCEWithLogitsLoss,
    Conv2d,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    Dropout,
    Embedding,
    Flatten,
    GRUCell,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    HuberLoss,
    Identity,
    KLDivLoss,
    L1Loss,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSigmoid,
    LogSoftmax,
    LSTMCell,
    MaxPool2d,
    Mish,
    Module,
    ModuleDict,
    ModuleList,
    MSELoss,
    MultiheadAttention,
    MultiMarginLoss,
    NLLLoss,
    ParameterDict,
    ParameterList,
    ReLU,
    ReLU6,
    RMSNorm,
    RNNCell,
    Sequential,
    Sigmoid,
    SiLU,
    SmoothL1Loss,
    Softmax,
    Softmin,
    Softplus,
    Softsign,
    Tanh,
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    activation,
)
from .parameter import Parameter
from .utils import Summary, summary

__all__ = [
    "GELU", "AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout", "Embedding", "Flatten",
    "LayerNorm", "LeakyReLU", "Linear", "MaxPool2d", "Module", "Parameter", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "functional", "Identity", "ModuleDict", "ModuleList", "ParameterDict",
    "ParameterList", "Summary", "summary", "init", "GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell",
    "activation", "CELU", "ELU", "GLU", "SELU", "Hardsigmoid", "Hardswish", "Hardtanh", "LogSigmoid", "LogSoftmax",
    "Mish", "ReLU6", "SiLU", "Softmin", "Softplus", "Softsign", "modules", "parameter", "utils",
    "MultiheadAttention", "RMSNorm", "Transformer", "TransformerDecoder", "TransformerDecoderLayer",
    "TransformerEncoder", "TransformerEncoderLayer",
    "BCELoss", "BCEWithLogitsLoss", "CosineEmbeddingLoss", "CrossEntropyLoss", "HuberLoss", "KLDivLoss",
    "L1Loss", "MSELoss", "MultiMarginLoss", "NLLLoss", "SmoothL1Loss",
]  # fmt: skip
