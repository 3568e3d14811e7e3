"""The containers: ``Sequential``, ``ModuleList``, ``ModuleDict``, ``ParameterList``, ``ParameterDict``.

Each is a Module that registers what it holds, so the parameters are named, saved and trained.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..parameter import Parameter
from .module import Module


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


class _Container(Module):
    """What the four containers share: their ``items`` (a list or dict), indexing, length and
    iteration, and no forward of their own."""

    items: Any

    def __getitem__(self, key: Any) -> Any:
        return self.items[key]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)  # a list's items, a dict's keys

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} holds what a model is built of but has no forward of its "
                                  "own; index it or iterate over it")


def _key(container: str, key: Any) -> str:
    if not isinstance(key, str) or not key or "." in key:
        raise KeyError(f"{container}: key {key!r} must be a non-empty string without dots (it names parameters)")
    return key


class ModuleList(_Container):
    """A list of modules, registered: their parameters are named ``0.weight``, ``1.weight``, ...

    >>> import chainrule as cr
    >>> heads = cr.nn.ModuleList([cr.nn.Linear(4, 2) for _ in range(3)])
    >>> heads.append(cr.nn.Linear(4, 1))
    >>> len(heads), [n for n, _ in heads.named_parameters()][-2:]
    (4, ['3.weight', '3.bias'])
    """

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self.items: list[Module] = []
        self.extend(modules)

    def append(self, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList: item {len(self.items)} is a {type(module).__name__}; expected a Module")
        self.items.append(module)

    def extend(self, modules: Iterable[Module]) -> None:
        for m in modules:
            self.append(m)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for i, m in enumerate(self.items):
            yield str(i), m


class ModuleDict(_Container):
    """Modules by name, registered: parameters are named ``<key>.weight``.

    >>> import chainrule as cr
    >>> heads = cr.nn.ModuleDict({"cls": cr.nn.Linear(4, 3), "box": cr.nn.Linear(4, 4)})
    >>> [n for n, _ in heads.named_parameters()]
    ['cls.weight', 'cls.bias', 'box.weight', 'box.bias']
    """

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        self.items: dict[str, Module] = {}
        for k, m in (modules or {}).items():
            self[k] = m

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: {key!r} is a {type(module).__name__}; expected a Module")
        self.items[_key("ModuleDict", key)] = module

    def keys(self) -> Any:
        return self.items.keys()

    def values(self) -> Any:
        return self.items.values()

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self.items.items()


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

    def __init__(self, parameters: Iterable[Any] = ()) -> None:
        super().__init__()
        self.items: list[Parameter] = []
        for p in parameters:
            self.append(p)

    def append(self, p: Any) -> None:
        self.items.append(p if isinstance(p, Parameter) else Parameter(p))

    def _own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for i, p in enumerate(self.items):
            yield str(i), p

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return iter(())


class ParameterDict(_Container):
    """Parameters by name, registered (``<attribute>.<key>`` in a model).

    >>> import chainrule as cr
    >>> pd = cr.nn.ParameterDict({"scale": cr.nn.Parameter([1.0]), "shift": [0.0]})
    >>> [n for n, _ in pd.named_parameters()]
    ['scale', 'shift']
    """

    def __init__(self, parameters: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.items: dict[str, Parameter] = {}
        for k, p in (parameters or {}).items():
            self[k] = p

    def __setitem__(self, key: str, p: Any) -> None:
        self.items[_key("ParameterDict", key)] = p if isinstance(p, Parameter) else Parameter(p)

    def _own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        yield from self.items.items()

    def named_children(self) -> Iterator[tuple[str, Module]]:
        return iter(())
