"""``MultiheadAttention``, PyTorch's (``torch/nn/modules/activation.py``; a file of its own here).

The parameters, their names and initialization are PyTorch's, so its state_dict loads: the
packed ``in_proj_weight`` (3E, E) when keys and values have the embedding's width (else
``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight``), ``in_proj_bias`` and ``out_proj``.
A forward is the in-projection, the heads, scaled dot-product attention and ``out_proj``:
the fused gate (``F.scaled_dot_product_attention``) when no weights are asked for, else the
composed softmax (``ops.attention.attention_weights``), whose weights are a node of the graph.

Masks follow PyTorch's MultiheadAttention, whose booleans are the opposite of SDPA's: True in
``attn_mask`` or ``key_padding_mask`` is a position that may NOT be attended to; float masks
are added to the scores. A query left with no key attends to nothing (zero attention, so its
output is out_proj's bias) where PyTorch's need_weights path gives NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import devices
from ...autograd.tensor import Tensor, as_tensor
from ...backend import array_module
from ...ops.attention import attention_weights
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ._utils import _as_input
from .linear import Linear
from .module import Module


class MultiheadAttention(Module):
    """Attention over ``num_heads`` heads of width embed_dim // num_heads, with PyTorch's
    arguments and parameters; ``forward`` returns (output, weights or None).

    Inputs are (L, N, E) (``batch_first``: (N, L, E)) or unbatched (L, E); keys and values
    (S, N, kdim) and (S, N, vdim). Weights (``need_weights``): (N, L, S) averaged over the
    heads, or (N, num_heads, L, S); after dropout, as PyTorch's.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> mha = cr.nn.MultiheadAttention(8, 2, batch_first=True)
    >>> x = cr.Tensor(np.ones((3, 5, 8)))
    >>> out, w = mha(x, x, x)
    >>> out.shape, w.shape
    ((3, 5, 8), (3, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False) -> None:  # fmt: skip
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim={embed_dim}, num_heads={num_heads}; expected both > 0")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim={embed_dim} is not divisible by num_heads={num_heads}; "
                             "expected a multiple (each head gets embed_dim // num_heads)")
        for name, on in (("add_bias_kv", add_bias_kv), ("add_zero_attn", add_zero_attn)):
            if on:
                raise NotImplementedError(f"MultiheadAttention: {name}=True is not implemented; expected False")
        if not 0 <= dropout < 1:
            raise ValueError(f"MultiheadAttention: dropout={dropout}; expected 0 <= dropout < 1")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self.head_dim = embed_dim // num_heads
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        e = embed_dim
        if self._qkv_same_embed_dim:  # one packed (3E, E) matrix, as PyTorch's
            self.in_proj_weight = Parameter(np.zeros((3 * e, e)))
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight = Parameter(np.zeros((e, e)))
            self.k_proj_weight = Parameter(np.zeros((e, self.kdim)))
            self.v_proj_weight = Parameter(np.zeros((e, self.vdim)))
        self.in_proj_bias = Parameter(np.zeros(3 * e)) if bias else None
        self.out_proj = Linear(e, e, bias)
        self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's initialization: the in-projections Glorot uniform, both biases 0, out_proj's
        weight as a ``Linear``'s (U(-1/sqrt(E), 1/sqrt(E)), drawn when it was made)."""
        for w in (self.in_proj_weight, self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
            if w is not None:
                init.xavier_uniform_(w)
        for b in (self.in_proj_bias, self.out_proj.bias):
            if b is not None:
                init.constant_(b, 0.0)

    def forward(self, query: Any, key: Any, value: Any, key_padding_mask: Any = None, need_weights: bool = True,
                attn_mask: Any = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:  # fmt: skip
        """(output, weights or None), PyTorch's arguments: ``key_padding_mask`` (N, S) or (S,),
        ``attn_mask`` (L, S) or (N * num_heads, L, S), booleans True where attention is NOT
        allowed or floats added; ``is_causal``: a hint that ``attn_mask`` is the causal mask.

        >>> import chainrule as cr
        >>> import numpy as np
        >>> mha = cr.nn.MultiheadAttention(4, 2)
        >>> x = cr.Tensor(np.ones((3, 1, 4)))
        >>> out, w = mha(x, x, x, key_padding_mask=np.array([[False, False, True]]), average_attn_weights=False)
        >>> w.numpy()[0, 0].round(3).tolist()
        [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]
        """
        like = self.out_proj.weight
        self_attention = query is key and key is value
        query, key, value = _as_input(query, like), _as_input(key, like), _as_input(value, like)
        batched = self._check(query, key, value, key_padding_mask, attn_mask)
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: is_causal=True without attn_mask; expected the causal mask itself "
                             "as attn_mask (nn.Transformer.generate_square_subsequent_mask(L)): is_causal is "
                             "PyTorch's hint that attn_mask is causal")
        if not batched:  # one sequence: a batch of one, batch first
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
        elif not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        n, length, e = query.shape
        s = key.shape[1]
        h, hd = self.num_heads, self.head_dim
        mask, causal = self._mask(attn_mask, key_padding_mask, is_causal, need_weights, n, length, s, query.dtype)
        q, k, v = self._in_projection(query, key, value, self_attention)  # (N, L, E), (N, S, E), (N, S, E)
        q = q.reshape(n, length, h, hd).transpose(1, 2)  # (N, H, L, hd)
        k = k.reshape(n, s, h, hd).transpose(1, 2)  # (N, H, S, hd)
        v = v.reshape(n, s, h, hd).transpose(1, 2)  # (N, H, S, hd)
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:  # composed, so the weights are a node of the graph
            weights = attention_weights(q, k, mask, scale=1 / math.sqrt(hd))  # (N, H, L, S)
            weights = F.dropout(weights, p) if p > 0 else weights
            out = weights @ v  # (N, H, L, hd)
            weights = weights.mean(axis=1) if average_attn_weights else weights
            weights = weights if batched else weights[0]
        else:
            out = F.scaled_dot_product_attention(q, k, v, mask, p, is_causal=causal)  # (N, H, L, hd)
        out = self.out_proj(out.transpose(1, 2).reshape(n * length, e)).reshape(n, length, e)  # heads side by side
        if not batched:
            return out[0], weights
        return (out if self.batch_first else out.transpose(0, 1)), weights

    def _in_projection(self, query: Tensor, key: Tensor, value: Tensor, self_attention: bool) -> tuple:
        """q, k, v: one product for all three in self-attention with the packed weight."""
        e, b = self.embed_dim, self.in_proj_bias
        biases = (None, None, None) if b is None else (b[:e], b[e : 2 * e], b[2 * e :])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if self_attention:
                qkv = F.linear(query, w, b)  # (N, L, 3E)
                return qkv[..., :e], qkv[..., e : 2 * e], qkv[..., 2 * e :]
            weights = (w[:e], w[e : 2 * e], w[2 * e :])
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        return tuple(F.linear(x, w, bb) for x, w, bb in zip((query, key, value), weights, biases))

    def _mask(self, attn_mask: Any, key_padding_mask: Any, is_causal: bool, need_weights: bool, n: int,
              length: int, s: int, dtype: Any) -> tuple[Any, bool]:  # fmt: skip
        """One mask for the attention in SDPA's words (booleans True where a key takes part,
        or floats added), broadcast as (N or 1, H or 1, L or 1, S); and whether it is causal."""
        if is_causal and key_padding_mask is None and not need_weights:
            return None, True  # PyTorch then takes SDPA's causal mask in place of attn_mask
        masks = []
        if attn_mask is not None:
            am = self._as_mask(attn_mask, dtype)
            masks.append(am.reshape(1, 1, length, s) if am.ndim == 2 else am.reshape(n, self.num_heads, length, s))
        if key_padding_mask is not None:
            masks.append(self._as_mask(key_padding_mask, dtype).reshape(n, 1, 1, s))
        if not masks:
            return None, False
        if all(m.dtype == bool for m in masks):  # True: NOT allowed; merged, and flipped for SDPA
            allowed = ~masks[0].data if len(masks) == 1 else ~(masks[0].data | masks[1].data)
            return allowed, False
        floats = [m if m.dtype != bool else Tensor._make(_ninf_where(m.data, dtype)) for m in masks]
        return (floats[0] if len(floats) == 1 else floats[0] + floats[1]), False

    def _as_mask(self, mask: Any, dtype: Any) -> Tensor:
        """A mask as a Tensor where the weights are: booleans stay booleans, floats take the inputs' dtype."""
        if isinstance(mask, Tensor):
            return mask
        data = devices.like(mask, self.out_proj.weight.data)
        return as_tensor(data if data.dtype == bool else data.astype(dtype))

    def _check(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any, attn_mask: Any) -> bool:
        """Whether the input is batched, once every shape is checked (before anything runs)."""
        shapes = f"query {query.shape}, key {key.shape}, value {value.shape}"
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention: {shapes}; expected all three 3-D (batched) or all 2-D (unbatched)")
        batched = query.ndim == 3
        bf = self.batch_first and batched
        seq = 1 if bf else 0
        widths = (query.shape[-1], key.shape[-1], value.shape[-1])
        if widths != (self.embed_dim, self.kdim, self.vdim):
            raise ValueError(f"MultiheadAttention: {shapes}; expected last axes (embed_dim, kdim, vdim) = "
                             f"{(self.embed_dim, self.kdim, self.vdim)}")
        if key.shape[:-1] != value.shape[:-1] or (batched and query.shape[1 - seq] != key.shape[1 - seq]):
            raise ValueError(f"MultiheadAttention: {shapes}; expected key and value of one length and all three "
                             "of one batch size")
        length, s = query.shape[seq], key.shape[seq]
        n = query.shape[1 - seq] if batched else 1
        if key_padding_mask is not None and tuple(np.shape(key_padding_mask)) != ((n, s) if batched else (s,)):
            raise ValueError(f"MultiheadAttention: key_padding_mask of shape {tuple(np.shape(key_padding_mask))} "
                             f"with {shapes}; expected {(n, s) if batched else (s,)}")
        if attn_mask is not None and tuple(np.shape(attn_mask)) not in ((length, s), (n * self.num_heads, length, s)):
            raise ValueError(f"MultiheadAttention: attn_mask of shape {tuple(np.shape(attn_mask))} with {shapes}; "
                             f"expected (L, S) = {(length, s)} or (N * num_heads, L, S) = "
                             f"{(n * self.num_heads, length, s)}")
        for name, m in (("key_padding_mask", key_padding_mask), ("attn_mask", attn_mask)):
            kind = None if m is None else m.dtype if hasattr(m, "dtype") else np.asarray(m).dtype
            if kind is not None and np.dtype(kind).kind not in "bf":
                raise TypeError(f"MultiheadAttention: {name} of dtype {kind}; expected bool or float")
        return batched


def _ninf_where(mask: Any, dtype: Any) -> Any:
    """PyTorch's reading of a boolean MultiheadAttention mask as a float one: -inf where True, else 0."""
    xp = array_module(mask)
    return xp.where(mask, np.dtype(dtype).type(-np.inf), np.dtype(dtype).type(0))
