"""The layers, one file per family as in ``torch/nn/modules/``: ``module.py`` (the base class
``Module``), ``container.py`` (``Sequential`` and the lists and dicts of modules and parameters),
``linear.py``, ``conv.py``, ``pooling.py``, ``batchnorm.py``, ``normalization.py`` (``LayerNorm``,
``RMSNorm``), ``dropout.py``, ``flatten.py``, ``sparse.py`` (``Embedding``), ``rnn.py`` (the cells,
``RNN``, ``LSTM`` and ``GRU``), ``activation.py``, ``attention.py`` (``MultiheadAttention``, which
PyTorch keeps in activation.py) and ``transformer.py``. Each layer holds its parameters and calls
functions of ``nn.functional``; ``_utils.py`` makes the weights of those that have them. Every
file imports ``Module`` from ``module.py`` and ``Parameter`` from ``nn/parameter.py``, never
from this package, which only gathers the classes for ``chainrule.nn`` to re-export.
"""

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
from .attention import MultiheadAttention
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten
from .linear import Identity, Linear
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    MultiMarginLoss,
    NLLLoss,
    SmoothL1Loss,
)
from .module import Module
from .normalization import LayerNorm, RMSNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .sparse import Embedding
from .transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
    "Linear", "Identity", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "Dropout", "Flatten", "Embedding",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
    "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "SiLU", "ELU", "SELU", "CELU", "Mish", "Softsign",
    "LogSigmoid", "Hardtanh", "Hardsigmoid", "Hardswish", "ReLU6", "GLU", "Softplus", "Softmax",
    "LogSoftmax", "Softmin", "RMSNorm", "MultiheadAttention", "Transformer", "TransformerEncoder",
    "TransformerDecoder", "TransformerEncoderLayer", "TransformerDecoderLayer",
    "BCELoss", "BCEWithLogitsLoss", "CosineEmbeddingLoss", "CrossEntropyLoss", "HuberLoss", "KLDivLoss",
    "L1Loss", "MSELoss", "MultiMarginLoss", "NLLLoss", "SmoothL1Loss",
]  # fmt: skip
