"""``Module``, ``Parameter`` and ``Sequential``: the containers layers live in.

A module's parameters are found from its attributes, in the order they were set: a
``Parameter``, a sub-``Module``, or a list/tuple of modules. No registration calls, as
in Chainer's links. Buffers (batch norm's running statistics) are raw arrays named
with ``register_buffer`` so they are saved and loaded with the weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..backend import array_module, to_numpy
from ..engine import Tensor, sequence_mark, watcher
from ..inplace import write_in_place


class Parameter(Tensor):
    """A Tensor that a module learns: always ``requires_grad``, float32 unless ``dtype`` says.

    >>> import chainrule as cr
    >>> cr.nn.Parameter([1.0, 2.0]).requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None, name: str | None = None) -> None:
        super().__init__(data, requires_grad=True, dtype=dtype, name=name)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor") :]


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

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}: a Module subclass must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        watch = watcher()
        if watch is not None:  # a trace (``chainrule.compile``) binds the buffers and names
            watch.uses_state(self)
        start = sequence_mark()
        out = self.forward(*args, **kwargs)
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
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    if isinstance(v, Module):
                        yield f"{name}.{i}", v

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
            for name, value in vars(m).items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{prefix}.{name}" if prefix else name), value

    def parameters(self) -> list[Parameter]:
        """Every parameter, in definition order (what an optimizer takes)."""
        return [p for _, p in self.named_parameters()]

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
                target[...] = array_module(target).asarray(np.asarray(v), dtype=target.dtype)

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
        bad = [k for k, v in state.items() if k in slots and np.asarray(v).dtype.kind in "fc" and not np.isfinite(v).all()]
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


class Sequential(Module):
    """Layers applied one after another; parameters are named by position (``0.weight``).

    >>> import chainrule as cr
    >>> net = cr.nn.Sequential(cr.nn.Linear(2, 4), cr.nn.ReLU(), cr.nn.Linear(4, 3))
    >>> [name for name, _ in net.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    """

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}; expected a Module")
        self.layers = list(layers)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def forward(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x
