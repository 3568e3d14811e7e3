"""``Embedding``: a table of vectors looked up by integer index (PyTorch's ``sparse.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd.inplace import write_in_place
from ...autograd.tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, looked up by integer index.

    PyTorch's arguments (``F.embedding`` says what each does): the weight starts N(0, 1) with the
    ``padding_idx`` row zero; ``_weight`` gives the table instead (used as it is) and ``_freeze``
    makes it not require grad. ``sparse=True`` is refused: chainrule has no sparse gradients.

    >>> import chainrule as cr
    >>> cr.nn.Embedding(10, 4)([[1, 2, 3]]).shape
    (1, 3, 4)
    >>> cr.nn.Embedding(10, 4, padding_idx=0).weight[0].tolist()
    [0.0, 0.0, 0.0, 0.0]
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Any = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        if sparse:
            raise ValueError("Embedding: sparse=True asks for sparse gradients, which chainrule does not have; "
                             "expected sparse=False (the same gradients, dense)")  # fmt: skip
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = F._padding_idx("Embedding", padding_idx, num_embeddings)
        self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse = max_norm, norm_type, scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(np.zeros((num_embeddings, embedding_dim)), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            shape = tuple(_weight.shape)
            if shape != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight of shape {shape}; expected ({num_embeddings}, {embedding_dim}), "
                                 "(num_embeddings, embedding_dim)")  # fmt: skip
            data = _weight.data if isinstance(_weight, Tensor) else _weight
            kept = _weight.dtype if isinstance(_weight, Tensor) else None  # a Tensor's dtype is kept, as PyTorch's
            self.weight = Parameter(data, dtype=kept, requires_grad=not _freeze)
        if device is not None or dtype is not None:
            self.to(device, dtype)

    def reset_parameters(self) -> None:
        """N(0, 1), as PyTorch's, then the padding row zero."""
        init.normal_(self.weight, 0.0, 1.0)
        if self.padding_idx is not None:
            write_in_place(self.weight, "Embedding.reset_parameters")[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:  # fmt: skip
        """An embedding whose table is ``embeddings`` (num_embeddings, embedding_dim), frozen by default.

        >>> import chainrule as cr
        >>> emb = cr.nn.Embedding.from_pretrained(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> emb([1]).tolist(), emb.weight.requires_grad
        ([[3.0, 4.0]], False)
        """
        shape = tuple(embeddings.shape)
        if len(shape) != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings of shape {shape}; expected 2 dims "
                             "(num_embeddings, embedding_dim)")  # fmt: skip
        return cls(shape[0], shape[1], padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)  # fmt: skip

    def forward(self, input: Any) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)  # fmt: skip

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s
