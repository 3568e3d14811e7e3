"""Recurrent layers: RNN, LSTM and GRU cells, and multi-layer sequence modules over them.

The equations, arguments, parameter names and layout are PyTorch's, so weights move between the
two (``weight_ih_l0`` is (G*H, I) with the gates stacked in PyTorch's order: LSTM i, f, g, o;
GRU r, z, n; ``_reverse`` names the backward direction of a bidirectional layer, whose output is
concatenated after the forward one's; ``weight_hr_l0`` is an LSTM's projection, ``proj_size``).
Each layer and direction of ``LSTM`` and ``GRU`` is one fused gate over the whole sequence
(``chainrule.ops.recurrent``; the backward direction runs on the time-reversed sequence);
``RNN``, an LSTM with a projection and ``fused=False`` compose cells of ops instead, an
ordinary unrolled graph that also differentiates twice. Backpropagation through time is then
the engine's walk: no recursion, and memory that grows linearly with the sequence.

On the composed path a sequence is a Python list of (N, H) tensors, stacked only at the end:
slicing a stacked tensor T times would cost T full-size gradients.
"""

from __future__ import annotations

import math
import warnings
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


def _reset(module: Module) -> None:
    """PyTorch's initialization of every recurrent weight and bias: U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0.0
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


def _zeros(x: Tensor, n: int, size: int) -> Tensor:
    return Tensor._make(array_module(x.data).zeros((n, size), dtype=x.dtype))  # a starting state, on x's device


def rnn_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
             nonlinearity: str = "tanh") -> Tensor:  # fmt: skip
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""
    pre = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    return ops.tanh(pre) if nonlinearity == "tanh" else ops.relu(pre)


def lstm_cell(x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None,
              b_hh: Tensor | None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh); c' = f c + i g; h' = o tanh(c')."""
    hs = c.shape[1]
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


def _check_nonlinearity(layer: str, nonlinearity: str) -> None:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{layer}: nonlinearity={nonlinearity!r}; expected 'tanh' or 'relu'")


# -- cells ---------------------------------------------------------------------------------


class _Cell(Module):
    kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        g = _GATES[self.kind] * hidden_size
        self.weight_ih = Parameter(np.zeros((g, input_size)))
        self.weight_hh = Parameter(np.zeros((g, hidden_size)))
        self.bias_ih = Parameter(np.zeros(g)) if bias else None
        self.bias_hh = Parameter(np.zeros(g)) if bias else None
        self.reset_parameters()
        if device is not None or dtype is not None:
            self.to(device, dtype)

    def reset_parameters(self) -> None:
        """U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) for every weight and bias, as PyTorch's."""
        _reset(self)

    def _input(self, x: Any) -> tuple[Tensor, bool]:
        """(x as (N, I), whether it came unbatched as (I,))."""
        x = as_tensor(x)
        if x.ndim == 2 and x.shape[1] == self.input_size:
            return x, False
        if x.ndim == 1 and x.shape[0] == self.input_size:
            return x.reshape(1, -1), True
        raise ValueError(f"{type(self).__name__}: input has shape {x.shape}; expected (batch, {self.input_size}) "
                         f"or ({self.input_size},) unbatched")  # fmt: skip

    def _state(self, x: Tensor, h: Any, unbatched: bool, what: str = "hx") -> Tensor:
        """A given state as (N, H), checked; None: zeros."""
        if h is None:
            return _zeros(x, x.shape[0], self.hidden_size)
        h = as_tensor(h)
        want = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        if tuple(h.shape) != want:
            raise ValueError(f"{type(self).__name__}: {what} has shape {h.shape}; expected {want}")
        return h.reshape(1, -1) if unbatched else h

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(_Cell):
    """One step of an Elman RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.RNNCell(3, 5)(cr.Tensor(np.zeros((2, 3)))).shape
    (2, 5)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        _check_nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Tensor | None = None) -> Tensor:
        x, unbatched = self._input(input)
        h = rnn_cell(x, self._state(x, hx, unbatched), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                     self.nonlinearity)  # fmt: skip
        return h.reshape(-1) if unbatched else h


class LSTMCell(_Cell):
    """One LSTM step: returns (h', c').

    >>> import chainrule as cr
    >>> import numpy as np
    >>> h, c = cr.nn.LSTMCell(3, 5)(cr.Tensor(np.zeros((2, 3))))
    >>> h.shape, c.shape
    ((2, 5), (2, 5))
    """

    kind = "lstm"

    def forward(self, input: Any, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x, unbatched = self._input(input)
        h0, c0 = (None, None) if hx is None else hx
        h, c = lstm_cell(x, self._state(x, h0, unbatched, "hx[0]"), self._state(x, c0, unbatched, "hx[1]"),
                         self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)  # fmt: skip
        return (h.reshape(-1), c.reshape(-1)) if unbatched else (h, c)


class GRUCell(_Cell):
    """One GRU step: h' = (1 - z) n + z h.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.GRUCell(3, 5)(cr.Tensor(np.zeros(3))).shape   # unbatched
    (5,)
    """

    kind = "gru"

    def forward(self, input: Any, hx: Tensor | None = None) -> Tensor:
        x, unbatched = self._input(input)
        h = gru_cell(x, self._state(x, hx, unbatched), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h.reshape(-1) if unbatched else h


# -- sequences -----------------------------------------------------------------------------


class _Recurrent(Module):
    """Stacked layers over a whole sequence: (T, N, I) in (batch_first: (N, T, I); unbatched: (T, I)),
    (T, N, D * H_out) out, with the last states (num_layers * D, N, H) (D = 2 when bidirectional)."""

    kind = "rnn"

    def _build(self, input_size: int, hidden_size: int, num_layers: int, bias: bool, batch_first: bool,
               dropout: float, bidirectional: bool, proj_size: int, device: Any, dtype: Any) -> None:  # fmt: skip
        """PyTorch's checks, attributes and parameters (in its order), then its initialization."""
        name = type(self).__name__
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name}: {arg} is a {type(value).__name__}; expected an int")
            if value <= 0:
                raise ValueError(f"{name}: {arg}={value}; expected > 0")
        for arg, value in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name}: {arg} is a {type(value).__name__}; expected a bool")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout={dropout!r}; expected a probability, 0 <= dropout < 1")
        if not 0 <= proj_size < hidden_size:
            raise ValueError(f"{name}: proj_size={proj_size}; expected 0 (none) or a size below hidden_size={hidden_size}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} with num_layers=1 drops nothing: the dropout is between layers, "
                          "as PyTorch's", UserWarning, stacklevel=3)  # fmt: skip
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        g = _GATES[self.kind] * hidden_size
        h_out = proj_size or hidden_size
        self._flat_weights_names, self._all_weights = [], []
        for k in range(num_layers):
            for suffix in ("", "_reverse")[: 1 + bidirectional]:
                shapes = {"weight_ih": (g, input_size if k == 0 else h_out * (1 + bidirectional)),
                          "weight_hh": (g, h_out)}  # fmt: skip
                if bias:
                    shapes.update(bias_ih=(g,), bias_hh=(g,))
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                names = [f"{n}_l{k}{suffix}" for n in shapes]
                for n, shape in zip(names, shapes.values()):
                    setattr(self, n, Parameter(np.zeros(shape)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()
        if device is not None or dtype is not None:
            self.to(device, dtype)

    def reset_parameters(self) -> None:
        """U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) for every weight and bias, as PyTorch's."""
        _reset(self)

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """Each layer's and direction's parameters, in PyTorch's order."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def _weights(self, k: int, d: int = 0) -> tuple:
        """(w_ih, w_hh, b_ih, b_hh, w_hr) of layer k, direction d; None where there is none."""
        suffix = f"_l{k}" + ("_reverse" if d else "")
        return tuple(getattr(self, n + suffix, None) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))

    def _input(self, input: Any) -> tuple[Tensor, bool]:
        """The sequence as (T, N, I), and whether it came unbatched."""
        x = as_tensor(input)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            order = "(batch, time, features)" if self.batch_first else "(time, batch, features)"
            raise ValueError(f"{type(self).__name__}: input has shape {x.shape}; expected {order} with "
                             f"{self.input_size} features, or (time, features) unbatched")  # fmt: skip
        if x.ndim == 2:
            return x.unsqueeze(1), True
        return (ops.permute(x, 1, 0, 2) if self.batch_first else x), False

    def _states(self, x: Tensor, given: Any, name: str, size: int, unbatched: bool) -> list[Tensor]:
        """The starting state of each layer and direction (num_layers * D of them), (N, size) each."""
        count, n = self.num_layers * (1 + self.bidirectional), x.shape[1]
        if given is None:
            return [_zeros(x, n, size) for _ in range(count)]
        given = as_tensor(given)
        want = (count, size) if unbatched else (count, n, size)
        if tuple(given.shape) != want:
            raise ValueError(f"{type(self).__name__}: {name} has shape {given.shape}; expected {want}")
        if unbatched:
            given = given.unsqueeze(1)
        return [given[i] for i in range(count)]

    def _fused(self) -> bool:
        return False

    def _run(self, x: Tensor, hs: list[Tensor], cs: list[Tensor] | None) -> tuple[Tensor, list, list]:
        """Every layer and direction over (T, N, I): (output (T, N, D * H_out), last h's, last c's)."""
        fused, dirs = self._fused(), 1 + self.bidirectional
        t_len = x.shape[0]
        seq = x if fused else [x[t] for t in range(t_len)]
        h_n, c_n = [], []
        for k in range(self.num_layers):
            outs = []
            for d in range(dirs):
                i = k * dirs + d
                c0 = cs[i] if cs is not None else None
                run = self._fused_direction if fused else self._composed_direction
                out, h, c = run(seq, hs[i], c0, self._weights(k, d), reverse=d == 1)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            if fused:
                seq = outs[0] if dirs == 1 else ops.concatenate(outs, axis=2)  # (T, N, D * H)
            else:
                seq = outs[0] if dirs == 1 else [ops.concatenate(pair, axis=1) for pair in zip(*outs)]
            if self.dropout and self.training and k < self.num_layers - 1:  # between layers, as PyTorch's
                seq = F.dropout(seq, self.dropout) if fused else [F.dropout(s, self.dropout) for s in seq]
        return (seq if fused else ops.stack(seq)), h_n, c_n

    def _fused_direction(self, seq: Tensor, h0: Tensor, c0: Tensor | None, w: tuple, reverse: bool) -> tuple:
        """One layer's direction as one gate over (T, N, I); the backward direction reads the reversed sequence."""
        t_len = seq.shape[0]
        xs = seq.flip(0) if reverse else seq  # a copy, reversed in time
        weights = [v for v in w[:4] if v is not None]
        if self.kind == "lstm":
            packed = LSTMSequence.apply(xs, h0, c0, *weights)  # (T + 1, N, H): h_1..h_T, then c_T
            out, h, c = packed[:t_len], packed[t_len - 1], packed[t_len]
        else:
            out = GRUSequence.apply(xs, h0, *weights)  # (T, N, H)
            h, c = out[t_len - 1], None
        return (out.flip(0) if reverse else out), h, c

    def _composed_direction(self, seq: list, h: Tensor, c: Tensor | None, w: tuple, reverse: bool) -> tuple:
        """One layer's direction as cells over the per-step list; outputs in time order."""
        outs = []
        for xt in reversed(seq) if reverse else seq:
            h, c = self._step(xt, h, c, w)
            outs.append(h)
        return (outs[::-1] if reverse else outs), h, c

    def _step(self, x: Tensor, h: Tensor, c: Tensor | None, w: tuple) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError

    def _output(self, out: Tensor, unbatched: bool) -> Tensor:
        if unbatched:
            return out.squeeze(1)
        return ops.permute(out, 1, 0, 2) if self.batch_first else out

    def extra_repr(self) -> str:
        # PyTorch's: the settings that are not their defaults
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("proj_size", 0), ("num_layers", 1), ("bias", True), ("batch_first", False),
                              ("dropout", 0), ("bidirectional", False)):  # fmt: skip
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


class RNN(_Recurrent):
    """Elman RNN over a sequence: returns (output (T, N, D * H), h_n (num_layers * D, N, H)).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> out, h = cr.nn.RNN(3, 5, num_layers=2)(cr.Tensor(np.zeros((7, 2, 3))))
    >>> out.shape, h.shape
    ((7, 2, 5), (2, 2, 5))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        _check_nonlinearity("RNN", nonlinearity)
        self.nonlinearity, self.mode = nonlinearity, "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self._build(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype)

    def _step(self, x: Tensor, h: Tensor, c: Tensor | None, w: tuple) -> tuple[Tensor, Tensor | None]:
        return rnn_cell(x, h, *w[:4], self.nonlinearity), None

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        x, unbatched = self._input(input)
        out, h_n, _ = self._run(x, self._states(x, hx, "h0", self.hidden_size, unbatched), None)
        h_n = ops.stack(h_n)
        return self._output(out, unbatched), (h_n.squeeze(1) if unbatched else h_n)


class LSTM(_Recurrent):
    """LSTM over a sequence: returns (output (T, N, D * H_out), (h_n, c_n)), h_n (num_layers * D,
    N, H_out) and c_n (num_layers * D, N, H); H_out is ``proj_size`` when given, else H.

    ``fused=False`` (chainrule's): cells composed of ops, which also differentiate twice (the
    fused gate does not); with ``proj_size`` the cells run in any case.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> out, (h, c) = cr.nn.LSTM(3, 5, batch_first=True)(cr.Tensor(np.zeros((2, 7, 3))))
    >>> out.shape, h.shape, c.shape
    ((2, 7, 5), (1, 2, 5), (1, 2, 5))
    >>> out, (h, c) = cr.nn.LSTM(3, 5, bidirectional=True, proj_size=2)(cr.Tensor(np.zeros((7, 3))))
    >>> out.shape, h.shape, c.shape
    ((7, 4), (2, 2), (2, 5))
    """

    kind = "lstm"
    mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: Any = None, dtype: Any = None, *, fused: bool = True) -> None:  # fmt: skip
        super().__init__()
        self._build(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size,
                    device, dtype)  # fmt: skip
        self.fused = fused  # one LSTMSequence gate per layer and direction; False: cells composed of ops

    def _fused(self) -> bool:
        return self.fused and not self.proj_size

    def _step(self, x: Tensor, h: Tensor, c: Tensor | None, w: tuple) -> tuple[Tensor, Tensor | None]:
        h, c = lstm_cell(x, h, c, *w[:4])
        return (h if w[4] is None else F.linear(h, w[4])), c  # the projection: h = W_hr (o tanh(c))

    def forward(self, input: Any, hx: tuple[Any, Any] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        x, unbatched = self._input(input)
        h0, c0 = (None, None) if hx is None else hx
        hs = self._states(x, h0, "h0", self.proj_size or self.hidden_size, unbatched)
        cs = self._states(x, c0, "c0", self.hidden_size, unbatched)
        out, h_n, c_n = self._run(x, hs, cs)
        h_n, c_n = ops.stack(h_n), ops.stack(c_n)
        if unbatched:
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)
        return self._output(out, unbatched), (h_n, c_n)


class GRU(_Recurrent):
    """GRU over a sequence: returns (output (T, N, D * H), h_n (num_layers * D, N, H)). Each layer
    and direction is one ``GRUSequence`` gate (``fused=False``: cells composed of ops, which also
    differentiate twice).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> out, h = cr.nn.GRU(3, 5, num_layers=2)(cr.Tensor(np.zeros((7, 2, 3))))
    >>> out.shape, h.shape
    ((7, 2, 5), (2, 2, 5))
    """

    kind = "gru"
    mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: Any = None, *, fused: bool = True) -> None:  # fmt: skip
        super().__init__()
        self._build(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device, dtype)
        self.fused = fused

    def _fused(self) -> bool:
        return self.fused

    def _step(self, x: Tensor, h: Tensor, c: Tensor | None, w: tuple) -> tuple[Tensor, Tensor | None]:
        return gru_cell(x, h, *w[:4]), None

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        x, unbatched = self._input(input)
        out, h_n, _ = self._run(x, self._states(x, hx, "h0", self.hidden_size, unbatched), None)
        h_n = ops.stack(h_n)
        return self._output(out, unbatched), (h_n.squeeze(1) if unbatched else h_n)
