"""``Module``, the base class of layers and models (the containers are in ``container.py``).

A module's parameters are found from its attributes, in the order they were set: a
``Parameter``, a sub-``Module``, or a list/tuple of modules. No registration calls are
needed, as in Chainer's links; ``register_parameter``, ``add_module`` and ``register_buffer``
are PyTorch's spellings of the same assignment (with PyTorch's checks). Buffers (batch norm's
running statistics) are arrays or Tensors named with ``register_buffer``, so they are saved and
loaded with the weights (unless ``persistent=False``). Parameters in a plain list or dict, or
modules in a dict, would be missed (and never train), so they are refused with an error naming
the container to use: ``ParameterList``, ``ParameterDict``, ``ModuleDict`` (and ``ModuleList``,
which a list of modules may also be).

Names and order are PyTorch's: ``named_parameters`` walks the modules depth first, each module's
own parameters in the order they were set, a shared module or parameter once; ``state_dict``
walks every path (a tied weight is saved under each of its names), each module's parameters,
then its buffers, then its children. The iterators (``parameters()``, ``modules()``, ...) are
computed when called, so a badly registered container is refused at the call, and handed out
as iterators, as PyTorch's are.

Hooks are PyTorch's: forward pre-hooks and forward hooks around ``forward``, and full backward
(pre-)hooks, which see the gradients of the module's outputs and inputs as tuples (``_hooks.py``,
built on the engine's tensor hooks). A module without hooks pays one attribute read per call.
"""

from __future__ import annotations

import contextvars
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ... import devices
from ...autograd.function import sequence_mark
from ...autograd.grad_mode import watcher
from ...autograd.inplace import write_in_place
from ...autograd.tensor import Tensor
from ...backend import array_module, is_array, to_numpy
from ..parameter import Parameter
from ._hooks import Handle, Hooks, call_with_hooks


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
    >>> next(net.parameters()).shape
    (100, 2)
    >>> net(cr.Tensor([[0.5, -0.5]])).shape
    (1, 3)
    """

    training: bool = True
    _buffer_names: list[str] | tuple[()] = ()  # the instance's own list, made by __init__ or register_buffer
    _non_persistent: set[str] | frozenset[str] = frozenset()  # buffers left out of state_dict
    _module_hooks: Hooks | None = None  # None until a hook is registered: one attribute read per call
    _state_defaults: tuple[str, ...] = ()  # buffers a state_dict may lack (batch norm's num_batches_tracked)

    def __init__(self) -> None:
        self.training = True
        self._buffer_names = []

    def __setattr__(self, name: str, value: Any) -> None:
        _check_container(self, name, value)
        if isinstance(value, (Parameter, Module)) and name in self._buffer_names:
            self._forget_buffer(name)  # a parameter or module takes the name over, as in PyTorch
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        if name in self._buffer_names:
            self._forget_buffer(name)

    def _forget_buffer(self, name: str) -> None:
        self._buffer_names.remove(name)
        if name in self._non_persistent:
            self._non_persistent.discard(name)

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
            if self._module_hooks is None:
                out = self.forward(*args, **kwargs)
            else:
                out = call_with_hooks(self, args, kwargs)
        finally:
            if calls is not None:
                calls[0] -= 1
        if calls is not None:
            row[2] = out
        if isinstance(out, Tensor) and out._ctx is not None:
            # which gates this call recorded, so a picture can fold them into one node
            out._ctx.__dict__.setdefault("modules", []).append((self, start, sequence_mark()))
        return out

    # -- registration (PyTorch's spellings of an assignment, with its checks) ----------------
    def _check_name(self, what: str, name: Any, fits: Callable[[Any], bool]) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: {what} name should be a string, got {type(name).__name__}")
        if "." in name:
            raise KeyError(f"{type(self).__name__}: {what} name can't contain \".\", got: {name}")
        if name == "":
            raise KeyError(f"{type(self).__name__}: {what} name can't be empty string \"\"")
        if hasattr(self, name) and not fits(getattr(self, name)):
            raise KeyError(f"{type(self).__name__}: attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None: a named slot without one, as a layer without bias has).

        >>> import chainrule as cr
        >>> m = cr.nn.Module()
        >>> m.register_parameter("scale", cr.nn.Parameter([2.0]))
        >>> [n for n, _ in m.named_parameters()]
        ['scale']
        """
        self._check_name("parameter", name, lambda v: v is None or isinstance(v, Parameter))
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}: cannot assign '{type(param).__name__}' object to parameter "
                            f"'{name}' (nn.Parameter or None required)")
        setattr(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module by name (``setattr``, checked as PyTorch checks it)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}.add_module: {type(module).__name__} is not a Module subclass")
        self._check_name("module", name, lambda v: v is None or isinstance(v, Module))
        setattr(self, name, module)

    def register_module(self, name: str, module: Module | None) -> None:
        """The same as ``add_module``."""
        self.add_module(name, module)

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Keep a Tensor or array that is state but not learned (batch norm's running mean).

        It is saved in ``state_dict`` and moved by ``to()``; ``persistent=False`` leaves it out
        of ``state_dict``. A Tensor stays a Tensor, an array an array (lists become arrays).

        >>> import chainrule as cr, numpy as np
        >>> m = cr.nn.Module()
        >>> m.register_buffer("steps", np.zeros((), dtype=np.int64))
        >>> m.register_buffer("cache", cr.zeros(2), persistent=False)
        >>> list(m.state_dict()), [n for n, _ in m.named_buffers()]
        (['steps'], ['steps', 'cache'])
        """
        self._check_name("buffer", name, lambda v: name in self._buffer_names)
        if isinstance(tensor, Parameter):
            raise TypeError(f"{type(self).__name__}: buffer '{name}' is a Parameter; a Parameter is learned, "
                            "register it with register_parameter")
        if tensor is not None and not isinstance(tensor, Tensor) and not is_array(tensor):
            if not isinstance(tensor, (list, tuple, int, float, bool, np.generic)):
                raise TypeError(f"{type(self).__name__}: cannot assign '{type(tensor).__name__}' object to buffer "
                                f"'{name}' (a Tensor, an array or None required)")
            tensor = np.asarray(tensor)
        if "_buffer_names" not in self.__dict__:
            object.__setattr__(self, "_buffer_names", [])
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        if not persistent:
            if "_non_persistent" not in self.__dict__:
                object.__setattr__(self, "_non_persistent", set())
            self._non_persistent.add(name)
        elif name in self._non_persistent:
            self._non_persistent.discard(name)
        object.__setattr__(self, name, tensor)

    # -- discovery -------------------------------------------------------------------------
    def _child_items(self) -> Iterator[tuple[str, Module]]:
        """Every registered child by name, a module set twice under each name (``name.i`` in a list)."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple, dict)) and value:
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

    def _own_buffers(self) -> Iterator[tuple[str, Any]]:
        """The buffers this module holds itself (None ones left out), by name."""
        for name in self._buffer_names:
            value = self.__dict__.get(name)
            if value is not None:
                yield name, value

    def _walk(self, memo: set, prefix: str, remove_duplicate: bool) -> list[tuple[str, Module]]:
        """This module and those below it, depth first, children in order (a loop, not recursion:
        the order is the recursive walk's, a module already in ``memo`` is skipped with its subtree)."""
        out = []
        stack = [(prefix, self)]
        while stack:
            path, m = stack.pop()
            if m in memo:
                continue
            if remove_duplicate:
                memo.add(m)
            out.append((path, m))
            children = [(f"{path}.{name}" if path else name, child) for name, child in m._child_items()]
            stack.extend(reversed(children))
        return out

    def _members(self, buffers: bool, prefix: str, recurse: bool, remove_duplicate: bool) -> list[tuple[str, Any]]:
        """The parameters (or buffers) of every module (of this one alone without ``recurse``),
        each once, with their dotted names."""
        modules = self._walk(set(), prefix, remove_duplicate) if recurse else [(prefix, self)]
        seen: set[int] = set()
        out = []
        for path, m in modules:
            for name, value in (m._own_buffers() if buffers else m._own_parameters()):
                if id(value) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                out.append((f"{path}.{name}" if path else name, value))
        return out

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-modules by attribute name (``name.i`` inside a list), each once."""
        seen: set[int] = set()
        out = []
        for name, child in self._child_items():
            if id(child) not in seen:
                seen.add(id(child))
                out.append((name, child))
        return iter(out)

    def children(self) -> Iterator[Module]:
        """The direct sub-modules, each once."""
        return iter([m for _, m in self.named_children()])

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:  # fmt: skip
        """This module and every module below it, depth first (a shared one once).

        >>> import chainrule as cr
        >>> net = cr.nn.Sequential(cr.nn.Linear(2, 2), cr.nn.ReLU())
        >>> [name for name, _ in net.named_modules()]
        ['', '0', '1']
        """
        return iter(self._walk(set() if memo is None else memo, prefix, remove_duplicate))

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, each once."""
        return iter([m for _, m in self._walk(set(), "", True)])

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:  # fmt: skip
        """Every parameter, with its dotted name (``fc1.weight``), each once (a tied one under its
        first name); ``recurse=False``: this module's own."""
        return iter(self._members(False, prefix, recurse, remove_duplicate))

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter, in definition order, each once (what an optimizer takes)."""
        return iter([p for _, p in self._members(False, "", recurse, True)])

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:  # fmt: skip
        """Every buffer (persistent or not), with its dotted name, each once."""
        return iter(self._members(True, prefix, recurse, remove_duplicate))

    def buffers(self, recurse: bool = True) -> Iterator[Any]:
        """Every buffer, each once."""
        return iter([b for _, b in self._members(True, "", recurse, True)])

    def num_parameters(self, trainable_only: bool = False) -> int:
        """How many numbers the model learns (each shared parameter counted once).

        >>> import chainrule as cr
        >>> cr.nn.Linear(784, 10).num_parameters()
        7850
        """
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def get_submodule(self, target: str) -> Module:
        """The module at dotted path ``target`` (``""``: this one).

        >>> import chainrule as cr
        >>> net = cr.nn.Sequential(cr.nn.Linear(2, 2), cr.nn.Sequential(cr.nn.ReLU()))
        >>> net.get_submodule("1.0")
        ReLU()
        """
        module: Module = self
        atoms = target.split(".") if target else []
        i = 0
        while i < len(atoms):
            children = dict(module._child_items())
            # a child in a plain list is named ``attr.i``: it takes two atoms
            name = next((n for n in (atoms[i], ".".join(atoms[i : i + 2])) if n in children), None)
            if name is None:
                if hasattr(module, atoms[i]):
                    raise AttributeError(f"`{atoms[i]}` is not an nn.Module")
                raise AttributeError(f"{type(module).__name__} has no attribute `{atoms[i]}`")
            module = children[name]
            i += name.count(".") + 1
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target`` (``"fc1.weight"``)."""
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if not hasattr(module, name) and name not in dict(module._own_parameters()):
            raise AttributeError(f"{type(module).__name__} has no attribute `{name}`")
        param = dict(module._own_parameters()).get(name)
        if param is None:
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> Any:
        """The buffer at dotted path ``target`` (``"bn.running_mean"``)."""
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if not hasattr(module, name):
            raise AttributeError(f"{type(module).__name__} has no attribute `{name}`")
        if name not in module._buffer_names:
            raise AttributeError(f"`{name}` is not a buffer")
        return getattr(module, name)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module (children first) and then on this one; returns self.

        >>> import chainrule as cr
        >>> net = cr.nn.Sequential(cr.nn.Linear(2, 2), cr.nn.ReLU())
        >>> _ = net.apply(lambda m: cr.nn.init.zeros_(m.bias) if isinstance(m, cr.nn.Linear) else None)
        >>> net[0].bias.numpy()
        array([0., 0.], dtype=float32)
        """
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- hooks ---------------------------------------------------------------------------------
    def _add_hook(self, kind: str, hook: Callable, prepend: bool, *flags: bool) -> Handle:
        if not callable(hook):
            raise TypeError(f"{type(self).__name__}.register_{kind}_hook: expected a function, got "
                            f"{type(hook).__name__}")
        hooks = self.__dict__.get("_module_hooks")
        if hooks is None:
            hooks = Hooks()
            object.__setattr__(self, "_module_hooks", hooks)
        return hooks.add(kind, (hook, *flags), prepend)

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> Handle:  # fmt: skip
        """Call ``hook(module, args)`` before each forward (``hook(module, args, kwargs)`` with
        ``with_kwargs``). It may return new args (a tuple, or one value), or ``(args, kwargs)``
        with ``with_kwargs``; None leaves them. Returns a handle: ``handle.remove()``.

        >>> import chainrule as cr
        >>> lin = cr.nn.Linear(1, 1)
        >>> h = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
        >>> lin(cr.Tensor([[5.0]])).item() == lin.bias.item()
        True
        >>> h.remove()
        """
        return self._add_hook("forward_pre", hook, prepend, with_kwargs)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> Handle:  # fmt: skip
        """Call ``hook(module, args, output)`` after each forward (``hook(module, args, kwargs,
        output)`` with ``with_kwargs``); a returned value replaces the output. ``always_call``:
        also when the forward raised.

        >>> import chainrule as cr
        >>> relu, seen = cr.nn.ReLU(), []
        >>> h = relu.register_forward_hook(lambda m, args, out: seen.append(out.shape))
        >>> _ = relu(cr.zeros(2, 3))
        >>> seen
        [(2, 3)]
        """
        return self._add_hook("forward", hook, prepend, with_kwargs, always_call)

    def register_full_backward_pre_hook(self, hook: Callable, prepend: bool = False) -> Handle:
        """Call ``hook(module, grad_output)`` in each backward, once the gradients of the module's
        outputs are known (a tuple, None for an output that is not a Tensor or got no gradient);
        a returned tuple replaces them."""
        return self._add_hook("backward_pre", hook, prepend)

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False) -> Handle:
        """Call ``hook(module, grad_input, grad_output)`` in each backward, once the gradients of
        the module's positional tensor inputs are known (None where an input is not a Tensor or
        needs no gradient); a returned tuple replaces ``grad_input``.

        >>> import chainrule as cr
        >>> lin, seen = cr.nn.Linear(2, 1), []
        >>> h = lin.register_full_backward_hook(lambda m, gin, gout: seen.append((gin[0].shape, gout[0].shape)))
        >>> lin(cr.ones(3, 2, requires_grad=True)).sum().backward()
        >>> seen
        [((3, 2), (3, 1))]
        """
        return self._add_hook("backward", hook, prepend)

    # -- modes and gradients ---------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout drops, batch norm uses batch statistics); returns self."""
        if not isinstance(mode, (bool, np.bool_)):
            raise ValueError(f"{type(self).__name__}.train: training mode is expected to be boolean, got {mode!r}")
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: the same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch learning of every parameter on or off (freeze a part of a model); returns self.

        >>> import chainrule as cr
        >>> cr.nn.Linear(2, 2).requires_grad_(False).weight.requires_grad
        False
        """
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's accumulated gradient (``set_to_none=False``: fill it with zeros
        in place, as PyTorch does, cut from any graph)."""
        zero_grads(list(self.parameters()), set_to_none, "zero_grad")

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
            for name, b in list(m._own_buffers()):
                if isinstance(b, Tensor):
                    b._data = convert(b._data)
                else:
                    object.__setattr__(m, name, convert(b))
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

    # -- state ----------------------------------------------------------------------
    def _state_items(self, prefix: str) -> Iterator[tuple[str, Any, Module, str]]:
        """(key, value, owner, attribute) of each entry of ``state_dict``, in PyTorch's order:
        a module's parameters, its persistent buffers, then each child's entries (every path,
        so a shared module or tied weight appears under each of its names)."""
        for name, p in self._own_parameters():
            yield prefix + name, p, self, name
        skip = self._non_persistent
        for name, b in self._own_buffers():
            if name not in skip:
                yield prefix + name, b, self, name
        for name, child in self._child_items():
            yield from child._state_items(f"{prefix}{name}.")

    def state_dict(self, *, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> dict[str, Any]:  # fmt: skip
        """Name -> NumPy copy of every parameter and persistent buffer, with PyTorch's keys and
        order (``keep_vars=True``: the Parameters and buffers themselves).

        >>> import chainrule as cr
        >>> list(cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.BatchNorm1d(3)).state_dict())
        ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked']
        """
        out: dict[str, Any] = OrderedDict() if destination is None else destination
        for key, value, _, _ in self._state_items(prefix):
            if not keep_vars:
                value = to_numpy(value._data if isinstance(value, Tensor) else value).copy()
            out[key] = value
        return out

    def _slots(self) -> dict[str, _Slot]:
        return {k: _Slot(v, tuple(v.shape), owner, attr) for k, v, owner, attr in self._state_items("")}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:  # fmt: skip
        """Copy values (arrays, lists, Tensors) into the parameters and buffers, in place
        (``assign=True``: the module takes new Parameters and buffers made from them instead).

        Every problem is found before anything is written: missing keys, unexpected keys
        (both only when ``strict``), shape mismatches and values that are not finite are named
        in one error. A tied parameter is loaded when any one of its names is given (the file
        safetensors' ``save_model`` writes keeps one), and batch norm keeps its
        ``num_batches_tracked`` when a state_dict from before it existed lacks it, as PyTorch
        does. Returns ``(missing_keys, unexpected_keys)``, PyTorch's named tuple.

        >>> import chainrule as cr
        >>> cr.nn.Linear(2, 3).load_state_dict({"weight": [[0.0, 0.0]]})
        Traceback (most recent call last):
        ...
        ValueError: load_state_dict into Linear: missing keys ['bias']; shape mismatch: weight has shape (1, 2) in the file, (3, 2) in the model
        >>> cr.nn.Linear(2, 1).load_state_dict({"weight": [[1.0, 2.0]]}, strict=False)
        _IncompatibleKeys(missing_keys=['bias'], unexpected_keys=[])
        """
        slots, missing, unexpected = self._check_state(state_dict, strict)
        self._write_state(slots, state_dict, assign)
        return _IncompatibleKeys(missing, unexpected)

    def _write_state(self, slots: dict[str, _Slot], state: Mapping[str, Any], assign: bool = False) -> None:
        """Copy a checked ``state`` into the ``slots`` that ``check_state_dict`` returned."""
        made: dict[int, Any] = {}  # with assign: the new Parameter of each old one (ties stay tied)
        for k, v in state.items():
            if k not in slots:
                continue
            slot, v = slots[k], _as_array(v)
            if v.shape != slot.shape:  # a one-element vector for a 0-d entry (see _fits)
                v = v.reshape(slot.shape)
            if assign:
                _assign(slot, v, made)
                continue
            target = slot.target  # a parameter or Tensor buffer (its writes are counted) or a buffer's array
            if isinstance(target, Tensor):
                target = write_in_place(target, "load_state_dict")
            target[...] = array_module(target).asarray(devices.like(v, target), dtype=target.dtype)

    def check_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> dict[str, _Slot]:
        """Raise ValueError naming every problem ``load_state_dict(state)`` would meet:
        missing and unexpected keys, shapes, values that are not finite. Changes nothing;
        returns the slots (parameter or buffer, shape, owner) that ``state`` fills."""
        return self._check_state(state, strict)[0]

    def _check_state(self, state: Mapping[str, Any], strict: bool) -> tuple[dict[str, _Slot], list[str], list[str]]:
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict into {type(self).__name__}: expected a dict of name -> array, got "
                            f"{type(state).__name__}")
        slots = self._slots()
        values, unreadable = {}, []
        for k, v in state.items():
            if k in slots:
                try:
                    values[k] = _as_array(v)
                except Exception:  # noqa: BLE001 - whatever the object, the answer is one line naming it
                    unreadable.append(f"{k} is a {type(v).__name__}")
        filled = {id(slots[k].target) for k in values}
        missing = [k for k, s in slots.items() if k not in state and id(s.target) not in filled
                   and s.attr not in type(s.owner)._state_defaults]  # fmt: skip
        unexpected = [k for k in state if k not in slots]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        if unreadable:
            problems.append("not arrays: " + "; ".join(unreadable))
        shapes = [f"{k} has shape {tuple(v.shape)} in the file, {slots[k].shape} in the model"
                  for k, v in values.items() if not _fits(tuple(v.shape), slots[k].shape)]  # fmt: skip
        if shapes:
            problems.append("shape mismatch: " + "; ".join(shapes))
        bad = [k for k, v in values.items() if _not_finite(v)]
        if bad:
            problems.append(f"NaN or Inf in {bad}")
        if problems:
            raise ValueError(f"load_state_dict into {type(self).__name__}: " + "; ".join(problems))
        return slots, missing, unexpected

    # -- printing ------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's settings, shown inside its ``repr`` (``in_features=2, out_features=3, bias=True``)."""
        return ""

    def __repr__(self) -> str:
        """PyTorch's format: the settings, then each child as ``(name): repr``, indented.

        >>> import chainrule as cr
        >>> print(cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.ReLU()))
        Sequential(
          (0): Linear(in_features=2, out_features=3, bias=True)
          (1): ReLU()
        )
        """
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [f"({name}): " + _indent(repr(m)) for name, m in self._child_items()]
        if len(lines) == 1 and not children:
            return f"{type(self).__name__}({lines[0]})"
        if not lines and not children:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines + children) + "\n)"


def _indent(text: str) -> str:
    """Every line but the first indented by two spaces (PyTorch's ``_addindent``)."""
    return text.replace("\n", "\n  ")


# -- state_dict's pieces -------------------------------------------------------------------


class _Slot(NamedTuple):
    """Where one ``state_dict`` entry goes: the Parameter or buffer, its shape, and the module
    attribute that holds it (``assign=True`` replaces it there)."""

    target: Any
    shape: tuple[int, ...]
    owner: Module
    attr: str


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns, as PyTorch's: the keys it missed and the ones it did not know."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys!r}, unexpected_keys={self.unexpected_keys!r})"

    __str__ = __repr__


def _fits(given: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Whether a value of shape ``given`` loads into an entry of ``shape``: the same shape, or
    one element for a 0-d entry (PyTorch takes it: files whose writer kept scalars 1-d)."""
    return given == shape or (shape == () and given == (1,))


def _as_array(v: Any) -> Any:
    """A state value as an array: a Tensor's (a Parameter's too) own, an array as it is, anything
    else (a list, a number, a CPU ``torch.Tensor``) through NumPy."""
    if isinstance(v, Tensor):
        return v._data
    return v if is_array(v) else np.asarray(v)


def _assign(slot: _Slot, v: Any, made: dict[int, Any]) -> None:
    """``load_state_dict(assign=True)``: the module attribute takes a new Parameter (or buffer)
    of ``v``'s dtype and device; a tied parameter's names all take the same new one."""
    old = slot.target
    new = made.get(id(old))
    if new is None:
        if not getattr(v.flags, "writeable", True):
            v = v.copy()  # a file's read-only array: a parameter is updated in place
        if isinstance(old, Parameter):
            new = Parameter(v, dtype=v.dtype, requires_grad=old.requires_grad)
        elif isinstance(old, Tensor):
            new = Tensor(v, dtype=v.dtype)
        else:
            new = v
        made[id(old)] = new
    object.__setattr__(slot.owner, slot.attr, new)


def zero_grads(params: list, set_to_none: bool, who: str) -> None:
    """``Module.zero_grad`` and ``Optimizer.zero_grad``: each gradient set to None (a compiled
    step's trace is told, so the replay resets them too), or filled with zeros in place and cut
    from any graph it was part of (PyTorch's ``detach_()`` then ``zero_()``)."""
    if set_to_none:
        watch = watcher()
        if watch is not None:  # a trace: these gradients are reset inside the step
            watch.resets_grads(params)
        for p in params:
            p.grad = None
        return
    for p in params:
        g = p.grad
        if g is not None:
            g._ctx, g.requires_grad = None, False  # PyTorch's detach_()
            write_in_place(g, who)[...] = 0


def _not_finite(v: Any) -> bool:
    """True when a state value (a NumPy or a CuPy array) holds NaN or Inf."""
    return v.dtype.kind in "fc" and not bool(array_module(v).isfinite(v).all())


# ``summary`` listens to module calls: [depth, rows] while it runs a forward, else None
_calls: contextvars.ContextVar[list | None] = contextvars.ContextVar("chainrule.module_calls", default=None)


def _check_container(owner: Module, name: str, value: Any) -> None:
    """Refuse a plain list, tuple or dict that holds what a Module must register."""
    if not isinstance(value, (list, tuple, dict)) or not value:  # runs on every attribute set and every walk
        return
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
