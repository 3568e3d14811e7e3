"""PyTorch's ``torch.autograd.functional``: whole Jacobians, Hessians and their products with
a vector, for a function of Tensors.

All six are composed from the engine's reverse mode (``chainrule.autograd.engine.grad``), as PyTorch's:

- ``vjp``: one backward pass seeded with ``v`` (``v^T J``);
- ``jacobian``: one backward pass per output entry, seeded with a one-hot vector (row of J);
- ``jvp`` (``J v``) by the double-vjp trick: ``g(u) = J^T u`` is linear in a dummy ``u``, so
  the gradient of ``<g(u), v>`` with respect to ``u`` is ``J v`` - no forward mode needed;
- ``hessian``: the jacobian of the jacobian; ``vhp`` (``v^T H``) a vjp of the gradient;
  ``hvp`` (``H v``) the double-vjp trick on the gradient (the same as ``vhp`` for a
  symmetric Hessian, as PyTorch notes).

Inputs are detached copies that require grad (or, with ``create_graph=True``, the inputs
themselves when they require grad, so the results stay connected to them). Return structures
follow PyTorch: a tuple of inputs (or outputs) gives tuples, nested (outputs, inputs) for
``jacobian`` and (inputs, inputs) for ``hessian``; a single Tensor gives a Tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backend import array_module
from ..factories import zeros, zeros_like
from ..ops.shape import stack
from .engine import grad
from .grad_mode import enable_grad
from .tensor import Tensor

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]

Tensors = Tensor | tuple[Tensor, ...]


# -- the pieces PyTorch composes them from -----------------------------------------------

def _as_tuple(x: Any, what: str, who: str) -> tuple[bool, tuple[Tensor, ...]]:
    """(whether ``x`` was a tuple, ``x`` as a tuple), every entry checked to be a Tensor."""
    is_tuple = isinstance(x, (tuple, list))
    items = tuple(x) if is_tuple else (x,)
    for i, el in enumerate(items):
        if not isinstance(el, Tensor):
            where = f"entry {i} of {what}" if is_tuple else what
            raise TypeError(f"{who}: {where} is {type(el).__name__}; expected a Tensor or a tuple of Tensors")
    return is_tuple, items


def _prepare(xs: tuple[Tensor, ...], create_graph: bool, need_graph: bool) -> tuple[Tensor, ...]:
    """Detached copies (sharing memory) that require grad when ``need_graph``; under
    ``create_graph`` a tensor that requires grad is kept, so the results reach it."""
    return tuple(x if create_graph and x.requires_grad else x.detach().requires_grad_(need_graph) for x in xs)


def _post(xs: tuple, create_graph: bool) -> tuple:
    """Results cut from the graph unless ``create_graph`` (tuples of tuples too)."""
    if create_graph:
        return xs
    return tuple(x.detach() if isinstance(x, Tensor) else _post(x, create_graph) for x in xs)


def _unpack(res: tuple, is_tuple: bool | tuple[bool, bool]) -> Any:
    """PyTorch's return structure: drop the tuple levels the caller did not pass a tuple for."""
    outer, inner = is_tuple if isinstance(is_tuple, tuple) else (is_tuple, None)
    if inner is False:
        res = tuple(r[0] for r in res)
    return res if outer else res[0]


def _check_shapes(who: str, v: tuple[Tensor, ...], refs: tuple[Tensor, ...], is_tuple: bool, against: str) -> None:
    if len(v) != len(refs):
        raise ValueError(f"{who}: got {len(v)} Tensor(s) in v for {len(refs)} {against}(s); expected one each")
    for i, (a, b) in enumerate(zip(v, refs)):
        if a.shape != b.shape:
            which = (f"v[{i}]", f"{against} {i}") if is_tuple else ("v", f"the {against}")
            raise ValueError(f"{who}: {which[0]} has shape {a.shape} but {which[1]} has shape {b.shape}; "
                             "expected the same shape")


def _v(who: str, v: Any, refs: tuple[Tensor, ...], is_tuple: bool, against: str, create_graph: bool) -> Any:
    """``v`` as a checked tuple; None only where ``refs`` is one one-element Tensor (then 1)."""
    if v is None:
        if len(refs) != 1 or refs[0].numel() != 1:
            shapes = ", ".join(str(r.shape) for r in refs)
            raise ValueError(f"{who}: v=None is only for a single one-element {against}, got shape(s) {shapes}; "
                             f"expected a v of the {against}'s shape")
        return None
    v = _prepare(_as_tuple(v, "v", who)[1], create_graph, need_graph=False)
    _check_shapes(who, v, refs, is_tuple, against)
    return v


def _grad(outputs: tuple, inputs: tuple[Tensor, ...], grad_outputs: Any = None, create_graph: bool = False,
          retain_graph: bool | None = None) -> tuple:  # fmt: skip
    """``grad`` over the outputs that require grad (None for an input none of them reaches)."""
    grad_outputs = (None,) * len(outputs) if grad_outputs is None else grad_outputs
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return grad([o for o, _ in pairs], inputs, [g for _, g in pairs], create_graph=create_graph,
                retain_graph=retain_graph, allow_unused=True)  # fmt: skip


_STRICT = {
    "outputs": "output {i} of func does not require grad (it is not computed from the inputs in a differentiable way)",
    "grad_inputs": "the gradient with respect to input {i} is independent of the inputs of func",
    "jacobian": "the jacobian of func with respect to input {i} is independent of the input (func is linear in it?)",
    "hessian": "the hessian of func with respect to input {i} is independent of the input",
}


def _check_requires_grad(xs: tuple, kind: str, strict: bool, who: str) -> None:
    if not strict:
        return
    for i, x in enumerate(xs):
        if x is None:
            raise RuntimeError(f"{who}: the output of func is independent of input {i}; strict=True does not allow it")
        if not x.requires_grad:
            raise RuntimeError(f"{who}: {_STRICT[kind].format(i=i)}; strict=True does not allow it")


def _fill(grads: tuple, refs: tuple[Tensor, ...], strict: bool, create_graph: bool, who: str) -> tuple:
    """Zeros (the true value) where no output reached an input; with ``strict``, an error."""
    out = []
    for i, (g, ref) in enumerate(zip(grads, refs)):
        if g is None:
            if strict:
                raise RuntimeError(f"{who}: the result is independent of input {i}; strict=True does not allow it")
            g = zeros_like(ref)
        elif strict and create_graph and not g.requires_grad:
            raise RuntimeError(f"{who}: the result for input {i} does not depend on the inputs; "
                               "strict=True with create_graph=True does not allow it")
        out.append(g)
    return tuple(out)


def _call(who: str, func: Callable, inputs: tuple[Tensor, ...]) -> tuple[bool, tuple[Tensor, ...]]:
    return _as_tuple(func(*inputs), "the output of func", who)


# -- the six -----------------------------------------------------------------------------

def vjp(func: Callable[..., Tensors], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensors, Tensors]:  # fmt: skip
    """``(func(inputs), v^T J)``: the vector-Jacobian product, one backward pass seeded with ``v``
    (``v`` has the outputs' shapes; it may be None for a one-element output).

    >>> import chainrule as cr
    >>> out, g = cr.autograd.functional.vjp(lambda x: x ** 2, cr.Tensor([1.0, 3.0]), cr.Tensor([1.0, 1.0]))
    >>> out.tolist(), g.tolist()
    ([1.0, 9.0], [2.0, 6.0])
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _call("vjp", func, inputs)
        _check_requires_grad(outputs, "outputs", strict, "vjp")
        v = _v("vjp", v, outputs, is_outputs_tuple, "output", create_graph)
    res = _fill(_grad(outputs, inputs, v, create_graph=create_graph), inputs, strict, create_graph, "vjp")
    return _unpack(_post(outputs, create_graph), is_outputs_tuple), _unpack(_post(res, create_graph), is_inputs_tuple)


def jvp(func: Callable[..., Tensors], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensors, Tensors]:  # fmt: skip
    """``(func(inputs), J v)``: the Jacobian-vector product, by the double-vjp trick (``v`` has
    the inputs' shapes; it may be None for a one-element input).

    >>> import chainrule as cr
    >>> out, d = cr.autograd.functional.jvp(lambda x: x ** 2, cr.Tensor([1.0, 3.0]), cr.Tensor([1.0, 0.0]))
    >>> d.tolist()
    [2.0, 0.0]
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        v = _v("jvp", v, inputs, is_inputs_tuple, "input", create_graph)
        is_outputs_tuple, outputs = _call("jvp", func, inputs)
        _check_requires_grad(outputs, "outputs", strict, "jvp")
        # u: a dummy cotangent; J^T u is linear in u, and d<J^T u, v>/du = J v
        us = tuple(zeros_like(out, requires_grad=True) for out in outputs)
        grad_inputs = _grad(outputs, inputs, us, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict, "jvp")
    res = _fill(_grad(grad_inputs, us, v, create_graph=create_graph), outputs, strict, create_graph, "jvp")
    return _unpack(_post(outputs, create_graph), is_outputs_tuple), _unpack(_post(res, create_graph), is_outputs_tuple)


def _one_hot(out: Tensor, j: int) -> Any:
    """An array of ``out``'s shape, dtype and device, 1 at flat index ``j``: the seed of row j of J."""
    e = array_module(out.data).zeros(out.numel(), dtype=out.dtype)
    e[j] = 1
    return e.reshape(out.shape)


def jacobian(func: Callable[..., Tensors], inputs: Tensors, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False) -> Any:  # fmt: skip
    """The Jacobian of ``func`` at ``inputs``: for output i and input j, a Tensor of shape
    ``output_i.shape + input_j.shape`` (tuples of tuples when func returns, or is given,
    tuples). One backward pass per output entry; ``vectorize`` is accepted for PyTorch's
    signature and computes the same thing.

    >>> import chainrule as cr
    >>> cr.autograd.functional.jacobian(lambda x: x ** 2, cr.Tensor([1.0, 3.0])).tolist()
    [[2.0, 0.0], [0.0, 6.0]]
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        is_outputs_tuple, outputs = _call("jacobian", func, inputs)
        _check_requires_grad(outputs, "outputs", strict, "jacobian")
        if vectorize and strict:
            raise RuntimeError("jacobian: strict=True and vectorize=True are not supported together; "
                               "expected strict=False or vectorize=False (as PyTorch)")
        jac = []
        for i, out in enumerate(outputs):
            rows: list[list[Tensor]] = [[] for _ in inputs]  # per input, one gradient per output entry
            for j in range(out.numel()):
                vj = _grad((out,), inputs, (_one_hot(out, j),), create_graph=create_graph, retain_graph=True)
                for k, (g, inp) in enumerate(zip(vj, inputs)):
                    if g is None:
                        if strict:
                            raise RuntimeError(f"jacobian: output {i} of func is independent of input {k}; "
                                               "strict=True does not allow it")
                        g = zeros_like(inp)
                    elif strict and create_graph and not g.requires_grad:
                        raise RuntimeError(f"jacobian: the jacobian of func is independent of input {k}; "
                                           "strict=True with create_graph=True does not allow it")
                    rows[k].append(g)
            jac.append(tuple(stack(r).reshape(out.shape + inp.shape) if r else
                             zeros(out.shape + inp.shape, dtype=inp.dtype, device=inp.device)
                             for r, inp in zip(rows, inputs)))  # fmt: skip
    return _unpack(_post(tuple(jac), create_graph), (is_outputs_tuple, is_inputs_tuple))


def hessian(func: Callable[..., Tensor], inputs: Tensors, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False) -> Any:  # fmt: skip
    """The Hessian of a one-element ``func`` at ``inputs``: the jacobian of its jacobian; for
    inputs i and j a Tensor of shape ``input_i.shape + input_j.shape`` (tuples of tuples for
    a tuple of inputs).

    >>> import chainrule as cr
    >>> cr.autograd.functional.hessian(lambda x: (x ** 3).sum(), cr.Tensor([1.0, 2.0])).tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def single_output(*inp: Tensor) -> Tensor:
        out = func(*inp)
        is_tuple, outs = _as_tuple(out, "the output of func", "hessian")
        _check_requires_grad(outs, "outputs", strict, "hessian")
        if is_tuple or out.numel() != 1:
            got = f"{len(outs)} Tensors" if is_tuple else f"shape {out.shape}"
            raise ValueError(f"hessian: func returned {got}; expected a single one-element Tensor")
        return out.reshape(())

    def jac_func(*inp: Tensor) -> tuple[Tensor, ...]:
        jac = jacobian(single_output, inp, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict, "hessian")
        return jac

    res = jacobian(jac_func, inputs, create_graph=create_graph, strict=strict, vectorize=vectorize)
    return _unpack(res, (is_inputs_tuple, is_inputs_tuple))


def _scalar_output(who: str, func: Callable, inputs: tuple[Tensor, ...], strict: bool) -> tuple[Tensor, ...]:
    is_tuple, outputs = _call(who, func, inputs)
    _check_requires_grad(outputs, "outputs", strict, who)
    if is_tuple or outputs[0].numel() != 1:
        got = f"{len(outputs)} Tensors" if is_tuple else f"shape {outputs[0].shape}"
        raise ValueError(f"{who}: func returned {got}; expected a single one-element Tensor")
    return outputs


def vhp(func: Callable[..., Tensor], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensor, Tensors]:  # fmt: skip
    """``(func(inputs), v^T H)`` for a one-element ``func``: a vjp of its gradient.

    >>> import chainrule as cr
    >>> _, p = cr.autograd.functional.vhp(lambda x: (x ** 3).sum(), cr.Tensor([1.0, 2.0]), cr.Tensor([1.0, 1.0]))
    >>> p.tolist()
    [6.0, 12.0]
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vhp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        v = _v("vhp", v, inputs, is_inputs_tuple, "input", create_graph)
        outputs = _scalar_output("vhp", func, inputs, strict)
        jac = _grad(outputs, inputs, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict, "vhp")
    res = _fill(_grad(jac, inputs, v, create_graph=create_graph), inputs, strict, create_graph, "vhp")
    return _post(outputs, create_graph)[0], _unpack(_post(res, create_graph), is_inputs_tuple)


def hvp(func: Callable[..., Tensor], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensor, Tensors]:  # fmt: skip
    """``(func(inputs), H v)`` for a one-element ``func``: the double-vjp trick on its gradient.

    >>> import chainrule as cr
    >>> _, p = cr.autograd.functional.hvp(lambda x: (x ** 3).sum(), cr.Tensor([1.0, 2.0]), cr.Tensor([1.0, 0.0]))
    >>> p.tolist()
    [6.0, 0.0]
    """
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hvp")
        inputs = _prepare(inputs, create_graph, need_graph=True)
        v = _v("hvp", v, inputs, is_inputs_tuple, "input", create_graph)
        outputs = _scalar_output("hvp", func, inputs, strict)
        jac = _grad(outputs, inputs, create_graph=True)
        _check_requires_grad(jac, "jacobian", strict, "hvp")
        us = tuple(zeros_like(inp, requires_grad=True) for inp in inputs)  # u: H^T u is linear in u
        double_back = _grad(jac, inputs, us, create_graph=True)
        _check_requires_grad(jac, "hessian", strict, "hvp")
    res = _fill(_grad(double_back, us, v, create_graph=create_graph), inputs, strict, create_graph, "hvp")
    return _post(outputs, create_graph)[0], _unpack(_post(res, create_graph), is_inputs_tuple)
