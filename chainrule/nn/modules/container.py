"""The containers: ``Sequential``, ``ModuleList``, ``ModuleDict``, ``ParameterList``, ``ParameterDict``.

Each is a Module that keeps what it holds as its own attributes, named as PyTorch names them
(``"0"``, ``"1"``, ... or the keys), so the parameters are named, saved and trained by the
ordinary discovery, and ``getattr(seq, "0")`` or ``get_submodule("blocks.0")`` find them.
Deleting or inserting renumbers the rest, as PyTorch does.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..parameter import Parameter
from .module import Module, _indent


class _Indexed(Module):
    """What Sequential and ModuleList share: children named ``"0"``, ``"1"``, ..., indexing with
    PyTorch's errors, and renumbering after a deletion or an insertion."""

    def _named(self) -> list[tuple[str, Module]]:
        # the Module attributes, in order: one pass over the instance's dict (a Sequential's forward
        # takes them at every call)
        return [(k, v) for k, v in self.__dict__.items() if isinstance(v, Module)]

    def _index(self, idx: Any) -> int:
        n = len(self)
        idx = operator.index(idx)
        if not -n <= idx < n:
            raise IndexError(f"{type(self).__name__}: index {idx} is out of range (length {n})")
        return idx + n if idx < 0 else idx

    def _renumber(self, modules: list[Module]) -> None:
        for name in [n for n, v in vars(self).items() if isinstance(v, Module)]:
            object.__delattr__(self, name)
        for i, m in enumerate(modules):
            object.__setattr__(self, str(i), m)

    def _check(self, i: int, module: Any) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: item {i} is a {type(module).__name__}; expected a Module")

    def __len__(self) -> int:
        return len(self._named())

    def __iter__(self) -> Iterator[Module]:
        return iter([v for v in self.__dict__.values() if isinstance(v, Module)])

    def __setitem__(self, idx: int, module: Module) -> None:
        self._check(idx, module)
        setattr(self, self._named()[self._index(idx)][0], module)

    def __delitem__(self, idx: int | slice) -> None:
        named = self._named()
        drop = set(range(len(named))[idx]) if isinstance(idx, slice) else {self._index(idx)}
        self._renumber([m for i, (_, m) in enumerate(named) if i not in drop])

    def insert(self, index: int, module: Module) -> None:
        """Put ``module`` before position ``index``; the ones after it move up by one."""
        self._check(index, module)
        modules = list(self)
        if not -len(modules) <= index <= len(modules):
            raise IndexError(f"{type(self).__name__}.insert: index {index} is out of range (length {len(modules)})")
        modules.insert(index, module)
        self._renumber(modules)

    def append(self, module: Module) -> _Indexed:
        """Add ``module`` at the end (named by its position); returns self."""
        n = len(self)
        self._check(n, module)
        self.add_module(str(n), module)
        return self

    def extend(self, modules: Iterable[Module]) -> _Indexed:
        """``append`` each of ``modules``; returns self."""
        if not isinstance(modules, Iterable):
            raise TypeError(f"{type(self).__name__}.extend should be called with an iterable, but got "
                            f"{type(modules).__name__}")
        for m in modules:
            self.append(m)
        return self

    def pop(self, key: int | slice) -> Any:
        """Remove and return the module at ``key``."""
        v = self[key]
        del self[key]
        return v

    def __iadd__(self, modules: Iterable[Module]) -> _Indexed:
        return self.extend(modules)


class Sequential(_Indexed):
    """Layers applied one after another; parameters are named by position (``0.weight``), or by
    the keys of an ``OrderedDict`` given instead.

    >>> import chainrule as cr
    >>> net = cr.nn.Sequential(cr.nn.Linear(2, 4), cr.nn.ReLU(), cr.nn.Linear(4, 3))
    >>> [name for name, _ in net.named_parameters()]
    ['0.weight', '0.bias', '2.weight', '2.bias']
    >>> net[1:]
    Sequential(
      (1): ReLU()
      (2): Linear(in_features=4, out_features=3, bias=True)
    )
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], dict):  # name -> module, in the dict's order
            named = list(args[0].items())
        else:
            named = [(str(i), m) for i, m in enumerate(args)]
        for i, (name, layer) in enumerate(named):
            self._check(i, layer)
            self.add_module(name, layer)

    @property
    def layers(self) -> list[Module]:
        """The layers, in order (the list an older chainrule kept)."""
        return list(self)

    def __getitem__(self, idx: int | slice) -> Any:
        named = self._named()
        if isinstance(idx, slice):
            return type(self)(OrderedDict(named[idx]))
        return named[self._index(idx)][1]

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"Sequential: + takes another Sequential, got {type(other).__name__}")
        return Sequential().extend(list(self)).extend(list(other))

    def __iadd__(self, other: Iterable[Module]) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"Sequential: += takes another Sequential, got {type(other).__name__}")
        return self.extend(list(other))

    def forward(self, x: Any) -> Any:
        for layer in self:
            x = layer(x)
        return x


class _Container(Module):
    """The containers that only hold: no forward of their own."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} holds what a model is built of but has no forward of its "
                                  "own; index it or iterate over it")


def _key(container: str, key: Any) -> str:
    if not isinstance(key, str) or not key or "." in key:
        raise KeyError(f"{container}: key {key!r} must be a non-empty string without dots (it names parameters)")
    return key


class ModuleList(_Indexed, _Container):
    """A list of modules, registered: their parameters are named ``0.weight``, ``1.weight``, ...

    >>> import chainrule as cr
    >>> heads = cr.nn.ModuleList([cr.nn.Linear(4, 2) for _ in range(3)])
    >>> _ = heads.append(cr.nn.Linear(4, 1))
    >>> len(heads), [n for n, _ in heads.named_parameters()][-2:]
    (4, ['3.weight', '3.bias'])
    >>> print(heads)
    ModuleList(
      (0-2): 3 x Linear(in_features=4, out_features=2, bias=True)
      (3): Linear(in_features=4, out_features=1, bias=True)
    )
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        modules = list(self)
        if isinstance(idx, slice):
            return type(self)(modules[idx])
        return modules[self._index(idx)]

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList(list(self) + list(other))

    def __repr__(self) -> str:
        """PyTorch's: a run of equal modules is one line, ``(0-11): 12 x Block(...)``."""
        reprs = [repr(m) for m in self]
        if not reprs:
            return f"{type(self).__name__}()"
        runs: list[list[Any]] = []  # [first, last, repr]
        for i, r in enumerate(reprs):
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        lines = [_indent(f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}") for a, b, r in runs]
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(_Container):
    """Modules by name, registered: parameters are named ``<key>.weight``; ``d.key`` works too.

    >>> import chainrule as cr
    >>> heads = cr.nn.ModuleDict({"cls": cr.nn.Linear(4, 3), "box": cr.nn.Linear(4, 4)})
    >>> [n for n, _ in heads.named_parameters()]
    ['cls.weight', 'cls.bias', 'box.weight', 'box.bias']
    >>> heads.box is heads["box"]
    True
    """

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        value = self.__dict__.get(key) if isinstance(key, str) else None
        if not isinstance(value, Module):
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: {key!r} is a {type(module).__name__}; expected a Module")
        self.add_module(_key("ModuleDict", key), module)

    def __delitem__(self, key: str) -> None:
        self[key]  # noqa: B018 - a KeyError for what is not held
        delattr(self, key)

    def __len__(self) -> int:
        return len(self.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and isinstance(self.__dict__.get(key), Module)

    def keys(self) -> list[str]:
        return [k for k, _ in self._child_items()]

    def items(self) -> list[tuple[str, Module]]:
        return list(self._child_items())

    def values(self) -> list[Module]:
        return [m for _, m in self._child_items()]

    def clear(self) -> None:
        for k in self.keys():
            del self[k]

    def pop(self, key: str) -> Module:
        v = self[key]
        del self[key]
        return v

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add (or replace) modules from a mapping or an iterable of (key, module) pairs."""
        pairs = modules.items() if isinstance(modules, (Mapping, ModuleDict)) else modules
        for j, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"ModuleDict.update: element #{j} should be a (key, module) pair, got {pair!r}")
            self[pair[0]] = pair[1]


def _parameter(p: Any) -> Parameter:
    return p if isinstance(p, Parameter) else Parameter(p)


def _describe(p: Any) -> str:
    """A held value as PyTorch's containers print one."""
    size = "x".join(str(n) for n in p.shape)
    where = "" if p.device.type == "cpu" else f" ({p.device})"
    return f"Parameter containing: [{p.dtype} of size {size}{where}]"


class ParameterList(_Container):
    """A list of parameters, registered: named ``0``, ``1``, ... (``<attribute>.0`` in a model).

    Tensors and arrays given to it become Parameters.

    >>> import chainrule as cr
    >>> class Stack(cr.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.ws = cr.nn.ParameterList([cr.nn.Parameter([[1.0]]) for _ in range(2)])
    >>> [n for n, _ in Stack().named_parameters()]
    ['ws.0', 'ws.1']
    """

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def _index(self, idx: Any) -> int:
        idx = operator.index(idx)
        if not -self._size <= idx < self._size:
            raise IndexError(f"ParameterList: index {idx} is out of range (length {self._size})")
        return idx + self._size if idx < 0 else idx

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)([self[i] for i in range(*idx.indices(self._size))])
        return getattr(self, str(self._index(idx)))

    def __setitem__(self, idx: int, value: Any) -> None:
        setattr(self, str(self._index(idx)), _parameter(value))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return iter([self[i] for i in range(self._size)])

    def append(self, value: Any) -> ParameterList:
        p = _parameter(value)
        self._size += 1
        self[self._size - 1] = p
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        if not isinstance(values, Iterable) or isinstance(values, Parameter):
            raise TypeError(f"ParameterList.extend should be called with an iterable, but got {type(values).__name__}")
        for v in values:
            self.append(v)
        return self

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def extra_repr(self) -> str:
        return "\n".join(f"  ({i}): {_describe(p)}" for i, p in enumerate(self))


class ParameterDict(_Container):
    """Parameters by name, registered (``<attribute>.<key>`` in a model). A plain dict's keys are
    taken in sorted order, an ``OrderedDict``'s in its own, as PyTorch takes them.

    >>> import chainrule as cr
    >>> pd = cr.nn.ParameterDict({"shift": [0.0], "scale": cr.nn.Parameter([1.0])})
    >>> [n for n, _ in pd.named_parameters()]
    ['scale', 'shift']
    """

    def __init__(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> None:
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        p = _parameter(value)
        self.register_parameter(_key("ParameterDict", key), p)
        self._keys[key] = None

    def __delitem__(self, key: str) -> None:
        if key not in self._keys:
            raise KeyError(key)
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def keys(self) -> list[str]:
        return list(self._keys)

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self[k]) for k in self._keys]

    def values(self) -> list[Any]:
        return [self[k] for k in self._keys]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._keys else default

    def pop(self, key: str) -> Any:
        v = self[key]
        del self[key]
        return v

    def clear(self) -> None:
        for k in list(self._keys):
            del self[k]

    def update(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Add (or replace) parameters from a mapping (a plain dict's keys sorted, as PyTorch
        does) or an iterable of (key, value) pairs."""
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs: Iterable[Any] = parameters.items()
        elif isinstance(parameters, Mapping):
            pairs = sorted(parameters.items())
        else:
            pairs = parameters
        for j, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"ParameterDict.update: element #{j} should be a (key, value) pair, got {pair!r}")
            self[pair[0]] = pair[1]

    def extra_repr(self) -> str:
        return "\n".join(f"  ({k}): {_describe(p)}" for k, p in self.items())
