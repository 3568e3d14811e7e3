"""Recurrent layers: RNN, LSTM and GRU cells, and multi-layer sequence modules over them.

The equations and the parameter layout are PyTorch's, so weights can be moved between the
two (``weight_ih`` is (G*H, I) with the gates stacked in PyTorch's order: LSTM i, f, g, o;
GRU r, z, n). Every step is composed of chainrule ops, so backpropagation through time is
the engine's ordinary walk over the unrolled graph: no recursion, and memory that grows
linearly with the sequence (each step keeps its own few activations).

A sequence is handled one step at a time as a Python list of (N, H) tensors and stacked
only at the end: slicing a stacked tensor T times would cost T full-size gradients.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import ops
from ...autograd.tensor import Tensor, as_tensor
from ...backend import array_module
from ...ops.recurrent import GRUSequence, LSTMSequence
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def _params(module: Module, kind: str, input_size: int, hidden_size: int, bias: bool, suffix: str = "") -> None:
    """PyTorch's parameters and initialization: U(-1/sqrt(H), 1/sqrt(H)) for all of them."""
    g = _GATES[kind] * hidden_size
    bound = 1 / math.sqrt(hidden_size)
    shapes = {"weight_ih": (g, input_size), "weight_hh": (g, hidden_size)}
    if bias:
        shapes.update({"bias_ih": (g,), "bias_hh": (g,)})
    for name, shape in shapes.items():
        setattr(module, name + suffix, init.uniform_(Parameter(np.zeros(shape)), -bound, bound))
    if not bias:
        setattr(module, "bias_ih" + suffix, None)
        setattr(module, "bias_hh" + suffix, None)


def _check_input(op: str, x: Tensor, size: int) -> None:
    if x.ndim != 2 or x.shape[1] != size:
        raise ValueError(f"{op}: input has shape {x.shape}; expected (batch, {size})")


def rnn_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
             nonlinearity: str = "tanh") -> Tensor:  # fmt: skip
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""
    pre = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    return ops.tanh(pre) if nonlinearity == "tanh" else ops.relu(pre)


def lstm_cell(x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
              b_hh: Tensor | None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh); c' = f c + i g; h' = o tanh(c')."""
    hs = h.shape[1]
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # (N, 4H)
    i = ops.sigmoid(gates[:, :hs])  # input gate
    f = ops.sigmoid(gates[:, hs : 2 * hs])  # forget gate
    g = ops.tanh(gates[:, 2 * hs : 3 * hs])  # candidate cell
    o = ops.sigmoid(gates[:, 3 * hs :])  # output gate
    c_next = f * c + i * g
    return o * ops.tanh(c_next), c_next


def gru_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor:
    """r, z from x and h; n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)); h' = (1 - z) n + z h."""
    hs = h.shape[1]
    gi = F.linear(x, w_ih, b_ih)  # (N, 3H)
    gh = F.linear(h, w_hh, b_hh)
    r = ops.sigmoid(gi[:, :hs] + gh[:, :hs])  # reset gate
    z = ops.sigmoid(gi[:, hs : 2 * hs] + gh[:, hs : 2 * hs])  # update gate
    n = ops.tanh(gi[:, 2 * hs :] + r * gh[:, 2 * hs :])  # candidate
    return (1 - z) * n + z * h


class _Cell(Module):
    kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        _params(self, self.kind, input_size, hidden_size, bias)

    def _zeros(self, x: Tensor) -> Tensor:
        return Tensor._make(array_module(x.data).zeros((x.shape[0], self.hidden_size), dtype=x.dtype))  # x's device

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias_ih is None:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(_Cell):
    """One step of an Elman RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.RNNCell(3, 5)(cr.Tensor(np.zeros((2, 3)))).shape
    (2, 5)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity={nonlinearity!r}; expected 'tanh' or 'relu'")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, x: Any, h: Tensor | None = None) -> Tensor:
        x = as_tensor(x)
        _check_input("RNNCell", x, self.input_size)
        h = self._zeros(x) if h is None else h
        return rnn_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)


class LSTMCell(_Cell):
    """One LSTM step: returns (h', c').

    >>> import chainrule as cr
    >>> import numpy as np
    >>> h, c = cr.nn.LSTMCell(3, 5)(cr.Tensor(np.zeros((2, 3))))
    >>> h.shape, c.shape
    ((2, 5), (2, 5))
    """

    kind = "lstm"

    def forward(self, x: Any, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x = as_tensor(x)
        _check_input("LSTMCell", x, self.input_size)
        h, c = (self._zeros(x), self._zeros(x)) if state is None else state
        return lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(_Cell):
    """One GRU step: h' = (1 - z) n + z h."""

    kind = "gru"

    def forward(self, x: Any, h: Tensor | None = None) -> Tensor:
        x = as_tensor(x)
        _check_input("GRUCell", x, self.input_size)
        h = self._zeros(x) if h is None else h
        return gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class _Recurrent(Module):
    """Stacked layers over a whole sequence: (T, N, I) in, (T, N, H) out (batch_first: (N, T, ...))."""

    kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, nonlinearity: str = "tanh") -> None:  # fmt: skip
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"{type(self).__name__}: num_layers={num_layers}; expected >= 1")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{type(self).__name__}: nonlinearity={nonlinearity!r}; expected 'tanh' or 'relu'")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.nonlinearity, self.bias = batch_first, nonlinearity, bias
        for k in range(num_layers):
            _params(self, self.kind, input_size if k == 0 else hidden_size, hidden_size, bias, f"_l{k}")

    def _weights(self, k: int) -> tuple:
        return tuple(getattr(self, f"{n}_l{k}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def _initial(self, x: Tensor, state: Any, name: str) -> list[Tensor]:
        n = x.shape[0] if self.batch_first else x.shape[1]
        if state is None:
            xp = array_module(x.data)  # the state starts on x's device
            return [Tensor._make(xp.zeros((n, self.hidden_size), dtype=x.dtype)) for _ in range(self.num_layers)]
        state = as_tensor(state)
        if state.shape != (self.num_layers, n, self.hidden_size):
            raise ValueError(f"{type(self).__name__}: {name} has shape {state.shape}; "
                             f"expected ({self.num_layers}, {n}, {self.hidden_size})")  # fmt: skip
        return [state[k] for k in range(self.num_layers)]

    def _steps(self, x: Any) -> list[Tensor]:
        x = as_tensor(x)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            order = "(batch, time, features)" if self.batch_first else "(time, batch, features)"
            raise ValueError(f"{type(self).__name__}: input has shape {x.shape}; expected {order} with {self.input_size} features")
        steps = x.shape[1] if self.batch_first else x.shape[0]
        return [x[:, t] if self.batch_first else x[t] for t in range(steps)]

    def _unroll(self, x: Any, h0: Any, cell: Any) -> tuple[Tensor, Tensor]:
        """Every layer of a one-state cell (RNN, GRU) over the sequence: (output, h_n)."""
        seq = self._steps(x)
        hs = self._initial(as_tensor(x), h0, "h0")
        for k in range(self.num_layers):
            w = self._weights(k)
            h, outs = hs[k], []
            for xt in seq:
                h = cell(xt, h, w)
                outs.append(h)
            hs[k], seq = h, outs
        return self._stack(seq), ops.stack(hs)

    def _stack(self, outputs: list[Tensor]) -> Tensor:
        return ops.stack(outputs, axis=1 if self.batch_first else 0)

    def extra_repr(self) -> str:
        # PyTorch's: the settings that are not their defaults
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("proj_size", 0), ("num_layers", 1), ("bias", True), ("batch_first", False),
                              ("dropout", 0), ("bidirectional", False)):  # fmt: skip
            if getattr(self, name, default) != default:
                s += f", {name}={getattr(self, name)}"
        return s


class RNN(_Recurrent):
    """Elman RNN over a sequence: returns (output (T, N, H), h_n (layers, N, H)).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> out, h = cr.nn.RNN(3, 5, num_layers=2)(cr.Tensor(np.zeros((7, 2, 3))))
    >>> out.shape, h.shape
    ((7, 2, 5), (2, 2, 5))
    """

    def forward(self, x: Any, h0: Any = None) -> tuple[Tensor, Tensor]:
        return self._unroll(x, h0, lambda xt, h, w: rnn_cell(xt, h, *w, self.nonlinearity))


class LSTM(_Recurrent):
    """LSTM over a sequence: returns (output, (h_n, c_n)).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> out, (h, c) = cr.nn.LSTM(3, 5, batch_first=True)(cr.Tensor(np.zeros((2, 7, 3))))
    >>> out.shape, h.shape, c.shape
    ((2, 7, 5), (1, 2, 5), (1, 2, 5))
    """

    kind = "lstm"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, fused: bool = True) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first)
        self.fused = fused  # one LSTMSequence gate per layer; False: cells composed of ops (double backward)

    def forward(self, x: Any, state: tuple[Any, Any] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if self.fused:
            return self._fused(x, state)
        seq = self._steps(x)
        h0, c0 = (None, None) if state is None else state
        hs, cs = self._initial(as_tensor(x), h0, "h0"), self._initial(as_tensor(x), c0, "c0")
        for k in range(self.num_layers):
            w = self._weights(k)
            h, c, outs = hs[k], cs[k], []
            for xt in seq:
                h, c = lstm_cell(xt, h, c, *w)
                outs.append(h)
            hs[k], cs[k], seq = h, c, outs
        return self._stack(seq), (ops.stack(hs), ops.stack(cs))

    def _fused(self, x: Any, state: tuple[Any, Any] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        self._steps(x)  # checks the shape
        x = as_tensor(x)
        h0, c0 = (None, None) if state is None else state
        hs, cs = self._initial(x, h0, "h0"), self._initial(x, c0, "c0")
        seq = ops.permute(x, 1, 0, 2) if self.batch_first else x  # (T, N, I)
        t_len = seq.shape[0]
        for k in range(self.num_layers):
            w = [v for v in self._weights(k) if v is not None]
            packed = LSTMSequence.apply(seq, hs[k], cs[k], *w)  # (T + 1, N, H): h_1..h_T, then c_T
            seq, hs[k], cs[k] = packed[:t_len], packed[t_len - 1], packed[t_len]
        out = ops.permute(seq, 1, 0, 2) if self.batch_first else seq
        return out, (ops.stack(hs), ops.stack(cs))


class GRU(_Recurrent):
    """GRU over a sequence: returns (output, h_n). Each layer is one ``GRUSequence`` gate
    (``fused=False``: cells composed of ops, which also differentiate twice).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> out, h = cr.nn.GRU(3, 5, num_layers=2)(cr.Tensor(np.zeros((7, 2, 3))))
    >>> out.shape, h.shape
    ((7, 2, 5), (2, 2, 5))
    """

    kind = "gru"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, fused: bool = True) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first)
        self.fused = fused

    def forward(self, x: Any, h0: Any = None) -> tuple[Tensor, Tensor]:
        if not self.fused:
            return self._unroll(x, h0, lambda xt, h, w: gru_cell(xt, h, *w))
        self._steps(x)  # checks the shape
        x = as_tensor(x)
        hs = self._initial(x, h0, "h0")
        seq = ops.permute(x, 1, 0, 2) if self.batch_first else x  # (T, N, I)
        for k in range(self.num_layers):
            seq = GRUSequence.apply(seq, hs[k], *[v for v in self._weights(k) if v is not None])
            hs[k] = seq[seq.shape[0] - 1]
        out = ops.permute(seq, 1, 0, 2) if self.batch_first else seq
        return out, ops.stack(hs)
