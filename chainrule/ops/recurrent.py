"""A whole LSTM or GRU layer over a sequence as one gate (fused for speed, as PyTorch's are).

Composed of cells, an LSTM of T steps is about 20 T gates, each a small matrix product or a
pass over an (N, H) array. As one gate it does what the composed graph cannot: the input
projection of every step is one matrix product (T N, I) x (I, 4H) before the loop, the gate
nonlinearities are applied in place on one (N, 4H) block per step, and after the backward
through time the weight gradients are two matrix products over the whole sequence. The
equations, the gate order (LSTM i, f, g, o; GRU r, z, n) and the parameter layout are
PyTorch's. The GRU is the same plan with one state: its candidate n needs the recurrent
product's n block apart (r multiplies it), so that block is kept for the backward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..autograd.tensor import Tensor
from ..backend import array_module, errstate
from . import kernels
from .linalg import column_sums, product


def _sigmoid_(a: Any, xp: Any) -> None:
    """a <- 1 / (1 + exp(-a)), in place (exp(-a) overflows to inf for very negative a: the limit 0)."""
    xp.negative(a, out=a)
    with errstate(xp, over="ignore"):
        xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)


def _after_bptt(x: Any, w_ih: Any, h_all: Any, d_in: Any, d_rec: Any, need_x: bool, need_ih: bool,
                need_hh: bool) -> tuple:  # fmt: skip
    """After backpropagation through time, each of these is one product over all T steps:
    the inputs' gradient and the two weight gradients, from the (T, N, G) gradients of the
    gates' pre-activations on the input side (``d_in``) and the recurrent side (``d_rec``;
    the same array for the LSTM). Returns (d_in as (T N, G) rows, gx, gW_ih, gW_hh)."""
    t_len, n = x.shape[:2]
    flat_in = d_in.reshape(t_len * n, -1)
    flat_rec = flat_in if d_rec is d_in else d_rec.reshape(t_len * n, -1)
    gx = product(flat_in, w_ih).reshape(x.shape) if need_x else None
    gw_ih = product(flat_in.T, x.reshape(t_len * n, -1)) if need_ih else None
    gw_hh = product(flat_rec.T, h_all[:t_len].reshape(t_len * n, -1)) if need_hh else None  # h_0..h_{T-1}
    return flat_in, gx, gw_ih, gw_hh


def _cells_loop(*arrays: Any, float64: bool = False) -> bool:
    """Whether an LSTM step's cells run as ``kernels``' compiled loops: NumPy arrays (a compiled
    step's traced ones too: each step's loop one operation of its tape) of one dtype, float32
    (the forward's tanh is a float32 rational; the backward, products only, takes float64 too),
    Numba installed."""
    dtypes = {a.dtype for a in arrays}
    return (len(dtypes) == 1
            and dtypes <= ({np.dtype(np.float32), np.dtype(np.float64)} if float64 else {np.dtype(np.float32)})
            and kernels.usable(*arrays))  # fmt: skip


class LSTMSequence(Function):
    """(T, N, I) inputs, h0 and c0 (N, H), weights -> (T + 1, N, H): the T outputs h_1..h_T,
    then c_T. Backward: backpropagation through time, one step at a time, with the gate
    gradients of all steps kept in one (T, N, 4H) array for the weight-gradient products.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None) -> Any:
        xp = array_module(x)
        t_len, n, _ = x.shape
        hs = w_hh.shape[1]
        gates = product(x.reshape(t_len * n, -1), w_ih.T).reshape(t_len, n, 4 * hs)  # every step's input projection
        if b_ih is not None:
            gates += b_ih + b_hh
        h_all = xp.empty((t_len + 1, n, hs), dtype=x.dtype)  # h_0..h_T
        c_all = xp.empty((t_len + 1, n, hs), dtype=x.dtype)  # c_0..c_T
        tanh_c = xp.empty((t_len, n, hs), dtype=x.dtype)
        h_all[0], c_all[0] = h0, c0
        w_hh_t = xp.ascontiguousarray(w_hh.T)  # once: BLAS runs (N, H) x (H, 4H) ~20% faster untransposed
        rec = xp.empty((n, 4 * hs), dtype=gates.dtype)
        loops = _cells_loop(gates, h_all, c_all)
        for t in range(t_len):
            a = gates[t]  # (N, 4H), becomes the gates' activations in place
            product(h_all[t], w_hh_t, out=rec)
            if loops:  # the cells in one compiled pass (``kernels.lstm_cells``)
                if type(a) is np.ndarray:  # in place
                    kernels.lstm_cells(a, rec, c_all[t], (a, c_all[t + 1], tanh_c[t], h_all[t + 1]))
                else:  # a compiled step's trace: one operation of the tape, its outputs written in
                    a[...], c_all[t + 1], tanh_c[t], h_all[t + 1] = kernels.run(kernels.lstm_cells, a, rec, c_all[t])
                continue
            a += rec
            _sigmoid_(a[:, : 2 * hs], xp)  # i, f
            xp.tanh(a[:, 2 * hs : 3 * hs], out=a[:, 2 * hs : 3 * hs])  # g
            _sigmoid_(a[:, 3 * hs :], xp)  # o
            i, f, g, o = a[:, :hs], a[:, hs : 2 * hs], a[:, 2 * hs : 3 * hs], a[:, 3 * hs :]
            c = c_all[t + 1]
            xp.multiply(f, c_all[t], out=c)
            c += i * g  # c' = f c + i g
            xp.tanh(c, out=tanh_c[t])
            xp.multiply(o, tanh_c[t], out=h_all[t + 1])  # h' = o tanh(c')
        ctx.save_for_backward(x, w_ih, w_hh, gates, h_all, c_all, tanh_c)
        out = xp.empty((t_len + 1, n, hs), dtype=x.dtype)
        out[:t_len] = h_all[1:]
        out[t_len] = c_all[t_len]
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        if isinstance(grad_out, Tensor):
            raise NotImplementedError(
                "LSTMSequence: gradients of gradients (create_graph=True) need the LSTM composed of cells: "
                "nn.LSTM(..., fused=False)"
            )
        x, w_ih, w_hh, acts, h_all, c_all, tanh_c = ctx.saved_tensors
        xp = array_module(x)
        t_len, n, hs = tanh_c.shape
        d_gates = xp.empty_like(acts)  # (T, N, 4H): d loss / d pre-activation of every gate
        dh = xp.zeros((n, hs), dtype=x.dtype)  # from the step after (through W_hh)
        dc = grad_out[t_len].astype(x.dtype, copy=True)  # c_T's own gradient
        loops = _cells_loop(acts, grad_out, dc, float64=True)
        for t in range(t_len - 1, -1, -1):
            if loops:  # the step's cells in one compiled pass, the passes below in one
                if type(dc) is np.ndarray:  # in place
                    kernels.lstm_cells_backward(acts[t], tanh_c[t], c_all[t], dh, grad_out[t], dc, (d_gates[t], dc))
                else:  # a compiled step's trace
                    d_gates[t], dc = kernels.run(kernels.lstm_cells_backward, acts[t], tanh_c[t], c_all[t], dh,
                                                 grad_out[t], dc)  # fmt: skip
                dh = product(d_gates[t], w_hh)  # to h_{t-1}
                continue
            a = acts[t]
            i, f, g, o = a[:, :hs], a[:, hs : 2 * hs], a[:, 2 * hs : 3 * hs], a[:, 3 * hs :]
            dh += grad_out[t]
            tc = tanh_c[t]
            dc += dh * o * (1 - tc * tc)  # through h = o tanh(c)
            d = d_gates[t]
            # each gate's local gradient: sigmoid' = s (1 - s), tanh' = 1 - g^2
            xp.multiply(dc * g, i * (1 - i), out=d[:, :hs])  # di
            xp.multiply(dc * c_all[t], f * (1 - f), out=d[:, hs : 2 * hs])  # df
            xp.multiply(dc * i, 1 - g * g, out=d[:, 2 * hs : 3 * hs])  # dg
            xp.multiply(dh * tc, o * (1 - o), out=d[:, 3 * hs :])  # do
            dc *= f  # to c_{t-1}
            dh = product(d, w_hh)  # to h_{t-1}
        needs = ctx.needs_input_grad
        flat, gx, gw_ih, gw_hh = _after_bptt(x, w_ih, h_all, d_gates, d_gates, needs[0], needs[3], needs[4])
        gb = column_sums(flat) if len(needs) > 5 and (needs[5] or needs[6]) else None
        grads = (gx, dh if needs[1] else None, dc if needs[2] else None, gw_ih, gw_hh)
        if len(needs) > 5:
            grads += (gb if needs[5] else None, gb.copy() if needs[6] and gb is not None else None)
        return grads


class GRUSequence(Function):
    """(T, N, I) inputs, h0 (N, H), weights -> (T, N, H): the outputs h_1..h_T.

    Per step: r, z = sigmoid(x W_i^T + b_i + h W_h^T + b_h) on their blocks; n = tanh(x W_in^T
    + b_in + r (h W_hn^T + b_hn)); h' = n + z (h - n), which is PyTorch's (1 - z) n + z h.
    Backward: through time one step at a time; the input-side and the recurrent-side gate
    gradients of all steps kept in two (T, N, 3H) arrays (they differ only in n's block,
    which is r times the other on the recurrent side) for the weight-gradient products.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None) -> Any:
        xp = array_module(x)
        t_len, n, _ = x.shape
        hs = w_hh.shape[1]
        acts = product(x.reshape(t_len * n, -1), w_ih.T).reshape(t_len, n, 3 * hs)  # becomes r, z, n in place
        if b_ih is not None:
            acts += b_ih
        h_all = xp.empty((t_len + 1, n, hs), dtype=x.dtype)  # h_0..h_T
        gh_n = xp.empty((t_len, n, hs), dtype=x.dtype)  # h W_hn^T + b_hn of every step, for r's gradient
        h_all[0] = h0
        w_hh_t = xp.ascontiguousarray(w_hh.T)  # once: BLAS runs (N, H) x (H, 3H) ~20% faster untransposed
        gh = xp.empty((n, 3 * hs), dtype=acts.dtype)
        for t in range(t_len):
            a = acts[t]
            product(h_all[t], w_hh_t, out=gh)
            if b_hh is not None:
                gh += b_hh
            rz = a[:, : 2 * hs]
            rz += gh[:, : 2 * hs]  # through the view: ``a[...] += v`` would copy the sum back onto itself
            _sigmoid_(rz, xp)  # r, z
            r, z, cand = a[:, :hs], a[:, hs : 2 * hs], a[:, 2 * hs :]
            gh_n[t] = gh[:, 2 * hs :]
            cand += r * gh_n[t]
            xp.tanh(cand, out=cand)  # n
            h = h_all[t + 1]
            xp.subtract(h_all[t], cand, out=h)
            h *= z
            h += cand  # h' = n + z (h - n)
        ctx.save_for_backward(x, w_ih, w_hh, acts, gh_n, h_all)
        return h_all[1:].copy()  # not a view: the saved states stay the gate's own

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        if isinstance(grad_out, Tensor):
            raise NotImplementedError(
                "GRUSequence: gradients of gradients (create_graph=True) need the GRU composed of cells: "
                "nn.GRU(..., fused=False)"
            )
        x, w_ih, w_hh, acts, gh_n, h_all = ctx.saved_tensors
        xp = array_module(x)
        t_len, n, hs = gh_n.shape
        d_in = xp.empty_like(acts)  # (T, N, 3H): d loss / d pre-activations, input side
        d_rec = xp.empty_like(acts)  # the same on the recurrent side (n's block times r)
        dh = xp.zeros((n, hs), dtype=x.dtype)  # from the step after
        for t in range(t_len - 1, -1, -1):
            a = acts[t]
            r, z, cand = a[:, :hs], a[:, hs : 2 * hs], a[:, 2 * hs :]
            dh += grad_out[t]
            di, dr_ = d_in[t], d_rec[t]
            # local gradients: tanh' = 1 - n^2, sigmoid' = s (1 - s); h' = n + z (h - n)
            xp.multiply(dh * (1 - z), 1 - cand * cand, out=di[:, 2 * hs :])  # d n's pre-activation
            xp.multiply(dh * (h_all[t] - cand), z * (1 - z), out=di[:, hs : 2 * hs])  # dz
            xp.multiply(di[:, 2 * hs :] * gh_n[t], r * (1 - r), out=di[:, :hs])  # dr
            dr_[:, : 2 * hs] = di[:, : 2 * hs]
            xp.multiply(di[:, 2 * hs :], r, out=dr_[:, 2 * hs :])
            dh = dh * z + product(dr_, w_hh)  # to h_{t-1}: directly through z, and through W_hh
        needs = ctx.needs_input_grad
        flat_in, gx, gw_ih, gw_hh = _after_bptt(x, w_ih, h_all, d_in, d_rec, needs[0], needs[2], needs[3])
        grads = (gx, dh if needs[1] else None, gw_ih, gw_hh)
        if len(needs) > 4:
            flat_rec = d_rec.reshape(-1, d_rec.shape[-1])
            grads += (column_sums(flat_in) if needs[4] else None, column_sums(flat_rec) if needs[5] else None)
        return grads
