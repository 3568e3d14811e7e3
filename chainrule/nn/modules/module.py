"""``Module``, the base class of layers and models (the containers are in ``container.py``).

A module's parameters are found from its attributes, in the order they were set: a
``Parameter``, a sub-``Module``, or a list/tuple of modules. No registration calls, as
in Chainer's links. Buffers (batch norm's running statistics) are raw arrays named
with ``register_buffer`` so they are saved and loaded with the weights. Parameters in
a plain list or dict, or modules in a dict, would be missed (and never train), so they
are refused with an error naming the container to use: ``ParameterList``,
``ParameterDict``, ``ModuleDict`` (and ``ModuleList``, which a list of modules may also be).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from typing import Any

import numpy as np

from ... import devices
from ...autograd.function import sequence_mark
from ...autograd.grad_mode import watcher
from ...autograd.inplace import write_in_place
from ...autograd.tensor import Tensor
from ...backend import array_module, to_numpy
from ..parameter import Parameter


class Module:
    """Base class of layers and models: subclass it, set attributes, write ``forward``.

    >>> import chainrule as cr
    >>> class TwoLayer(cr.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = cr.nn.Linear(2, 100)
    ...         self.fc2 = cr.nn.Linear(100, 3)
    ...     def forward(self, x):
    ...         return self.fc2(self.fc1(x).relu())
    >>> net = TwoLayer()
    >>> [name for name, _ in net.named_parameters()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    >>> net(cr.Tensor([[0.5, -0.5]])).shape
    (1, 3)
    """

    training: bool = True

    def __init__(self) -> None:
        self.training = True
        self._buffer_names: list[str] = []

    def __setattr__(self, name: str, value: Any) -> None:
        _check_container(self, name, value)
        object.__setattr__(self, name, value)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}: a Module subclass must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        watch = watcher()
        if watch is not None:  # a trace (``chainrule.compile``) binds the buffers and names
            watch.uses_module(self)
        calls = _calls.get()
        if calls is not None:  # ``summary`` is listening: note the call, in order and by depth
            row = [self, calls[0], None]
            calls[1].append(row)
            calls[0] += 1
        start = sequence_mark()
        try:
            out = self.forward(*args, **kwargs)
        finally:
            if calls is not None:
                calls[0] -= 1
        if calls is not None:
            row[2] = out
        if isinstance(out, Tensor) and out._ctx is not None:
            # which gates this call recorded, so a picture can fold them into one node
            out._ctx.__dict__.setdefault("modules", []).append((self, start, sequence_mark()))
        return out

    # -- discovery -----------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules, by attribute name (``name.i`` inside a list)."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple, dict)):
                _check_container(self, name, value)  # appended to after it was set
                if not isinstance(value, dict):
                    for i, v in enumerate(value):
                        if isinstance(v, Module):
                            yield f"{name}.{i}", v

    def _own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """The parameters this module holds itself (not its sub-modules'), by name."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield name, value

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every module below it, depth first."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> list[Module]:
        return [m for _, m in self.named_modules()]

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every parameter, with its dotted name (``fc1.weight``), each once."""
        seen: set[int] = set()
        for prefix, m in self.named_modules():
            for name, value in m._own_parameters():
                if id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{prefix}.{name}" if prefix else name), value

    def parameters(self) -> list[Parameter]:
        """Every parameter, in definition order (what an optimizer takes)."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self, trainable_only: bool = False) -> int:
        """How many numbers the model learns (each shared parameter counted once).

        >>> import chainrule as cr
        >>> cr.nn.Linear(784, 10).num_parameters()
        7850
        """
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def register_buffer(self, name: str, value: Any) -> None:
        """Keep an array that is state but not learned (saved in ``state_dict``)."""
        names = self.__dict__.setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        setattr(self, name, value)

    def named_buffers(self) -> Iterator[tuple[str, Any]]:
        for prefix, m in self.named_modules():
            for name in getattr(m, "_buffer_names", ()):
                yield (f"{prefix}.{name}" if prefix else name), getattr(m, name)

    # -- modes and gradients --------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout drops, batch norm uses batch statistics); returns self."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: the same as ``train(False)``."""
        return self.train(False)

    # -- device and precision ------------------------------------------------------------
    def to(self, device: Any = None, dtype: Any = None) -> Module:
        """Move every parameter, gradient and buffer to ``device`` and/or convert the float ones
        to ``dtype``; returns self. One argument may be either (``to("cuda")``, ``to("float64")``).

        The parameters stay the same Tensor objects (their arrays are replaced), so an
        optimizer made before the move keeps working: its state follows the parameters to
        their device at its next step. Convert the dtype before making the optimizer.

        >>> import chainrule as cr
        >>> net = cr.nn.Linear(3, 2).to("cpu", "float64")
        >>> net.weight.dtype, net(cr.Tensor([[1.0, 2.0, 3.0]], dtype="float64")).dtype
        (dtype('float64'), dtype('float64'))
        """
        where, target = devices.to_arguments(device, dtype, "Module.to")
        if target is not None and target.kind != "f":
            raise ValueError(f"Module.to: expected a floating dtype such as 'float32' or 'float64', got {str(target)!r}")
        if where is not None:
            where = devices.resolve(where, "Module.to")  # no such GPU: an error before anything moves

        def convert(a: Any) -> Any:
            if target is not None and a.dtype.kind == "f" and a.dtype != target:
                a = a.astype(target)
            return a if where is None else devices.move(a, where, "Module.to")

        for p in self.parameters():
            p._data = convert(p._data)
            if p.grad is not None:
                g = convert(p.grad._data)
                if g is not p.grad._data:  # a gradient that stays as it is keeps its Tensor
                    p.grad = Tensor._make(g)
        for m in self.modules():
            for name in getattr(m, "_buffer_names", ()):
                setattr(m, name, convert(getattr(m, name)))
        return self

    def cuda(self, index: int | None = None) -> Module:
        """``to("cuda")`` (``"cuda:K"`` with ``index``): every parameter and buffer on the GPU."""
        return self.to(devices.Device("cuda", index))

    def cpu(self) -> Module:
        """``to("cpu")``: every parameter and buffer in host memory, as NumPy."""
        return self.to(devices.CPU)

    def double(self) -> Module:
        """``to("float64")``: the precision the CS231n gradient checks run in."""
        return self.to(np.float64)

    def float(self) -> Module:
        """``to("float32")``, the default."""
        return self.to(np.float32)

    def zero_grad(self) -> None:
        """Forget every parameter's accumulated gradient."""
        params = self.parameters()
        watch = watcher()
        if watch is not None:  # a trace: these gradients are reset inside the step
            watch.resets_grads(params)
        for p in params:
            p.grad = None

    # -- state ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Name -> NumPy copy of every parameter and buffer.

        >>> import chainrule as cr
        >>> sorted(cr.nn.Linear(2, 3).state_dict())
        ['bias', 'weight']
        """
        out = {name: to_numpy(p.data).copy() for name, p in self.named_parameters()}
        out.update({name: to_numpy(b).copy() for name, b in self.named_buffers()})
        return out

    def _slots(self) -> dict[str, tuple[Any, tuple[int, ...]]]:
        slots: dict[str, tuple[Any, tuple[int, ...]]] = {n: (p, p.shape) for n, p in self.named_parameters()}
        slots.update({n: (b, b.shape) for n, b in self.named_buffers()})
        return slots

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy values into the parameters and buffers, in place.

        Every problem is found before anything is written: missing keys, unexpected
        keys (both only when ``strict``) and shape mismatches are named in one error.

        >>> import chainrule as cr
        >>> cr.nn.Linear(2, 3).load_state_dict({"weight": [[0.0, 0.0]]})
        Traceback (most recent call last):
        ...
        ValueError: load_state_dict into Linear: missing keys ['bias']; shape mismatch: weight has shape (1, 2) in the file, (3, 2) in the model
        """
        self._write_state(self.check_state_dict(state, strict), state)

    def _write_state(self, slots: dict[str, tuple[Any, tuple[int, ...]]], state: dict[str, Any]) -> None:
        """Copy a checked ``state`` into the ``slots`` that ``check_state_dict`` returned."""
        for k, v in state.items():
            if k in slots:
                target = slots[k][0]  # a parameter (its writes are counted) or a buffer's array
                if isinstance(target, Tensor):
                    target = write_in_place(target, "load_state_dict")
                target[...] = array_module(target).asarray(devices.like(v, target), dtype=target.dtype)

    def check_state_dict(self, state: dict[str, Any], strict: bool = True) -> dict[str, tuple[Any, tuple[int, ...]]]:
        """Raise ValueError naming every problem ``load_state_dict(state)`` would meet:
        missing and unexpected keys, shapes, values that are not finite. Changes nothing;
        returns the slots (parameter or buffer, shape) that ``state`` fills."""
        slots = self._slots()
        problems = []
        missing = [k for k in slots if k not in state]
        unexpected = [k for k in state if k not in slots]
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        shapes = [
            f"{k} has shape {np.shape(v)} in the file, {slots[k][1]} in the model"
            for k, v in state.items()
            if k in slots and tuple(np.shape(v)) != tuple(slots[k][1])
        ]
        if shapes:
            problems.append("shape mismatch: " + "; ".join(shapes))
        bad = [k for k, v in state.items() if k in slots and _not_finite(v)]
        if bad:
            problems.append(f"NaN or Inf in {bad}")
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        return slots

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


def _not_finite(v: Any) -> bool:
    """True when a state value (a list, a NumPy or a CuPy array) holds NaN or Inf."""
    a = v if hasattr(v, "dtype") else np.asarray(v)
    return a.dtype.kind in "fc" and not bool(array_module(a).isfinite(a).all())


# ``summary`` listens to module calls: [depth, rows] while it runs a forward, else None
_calls: contextvars.ContextVar[list | None] = contextvars.ContextVar("chainrule.module_calls", default=None)


def _check_container(owner: Module, name: str, value: Any) -> None:
    """Refuse a plain list, tuple or dict that holds what a Module must register."""
    if isinstance(value, (list, tuple)):
        items = list(value)
        kind = "list" if isinstance(value, list) else "tuple"
        if any(isinstance(v, Parameter) for v in items):
            use = "nn.ParameterList([...])"
        elif any(isinstance(v, Module) for v in items) and not all(isinstance(v, Module) for v in items):
            use = "a list of modules alone, or nn.ModuleList([...]) with the other values kept elsewhere"
        else:
            return
    elif isinstance(value, dict):  # a ModuleDict or ParameterDict is a Module, not a dict
        items, kind = list(value.values()), "dict"
        if any(isinstance(v, Parameter) for v in items):
            use = "nn.ParameterDict({...})"
        elif any(isinstance(v, Module) for v in items):
            use = "nn.ModuleDict({...})"
        else:
            return
    else:
        return
    raise TypeError(f"{type(owner).__name__}.{name}: a plain {kind} holding parameters or modules is not registered "
                    f"(they would not be saved or trained); use {use}")
