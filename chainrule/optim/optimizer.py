"""The optimizers' base class, PyTorch's ``torch.optim.Optimizer``: parameter groups, state
keyed by the parameter, ``step(closure)``, ``zero_grad`` and ``state_dict`` in PyTorch's shape.

A group is a dict holding its ``"params"`` and every option (``lr``, ``betas``...): groups
given without an option take the optimizer's ``defaults``. ``state[p]`` is parameter ``p``'s
dict (``"step"``, ``"exp_avg"``...: PyTorch's names), made on its first update. Each algorithm
writes ``_update(w, dw, state, group)`` on raw arrays in place, under ``no_grad``. The state
follows its parameter to another device. A step count is a Python int (PyTorch keeps a 0-d
float tensor; one loaded from it becomes an int; inside a compiled step it is a 0-d int array).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from numbers import Real
from typing import Any

import numpy as np

from .. import backend, devices
from ..autograd.grad_mode import enable_grad, no_grad, watcher
from ..autograd.inplace import write_in_place
from ..autograd.tensor import Tensor
from ..backend import array_module, to_numpy
from ..nn.modules.module import zero_grads

# PyTorch's implementation switches (``foreach``, ``fused``, ``capturable``: multi-tensor loops,
# fused kernels, CUDA graphs) are accepted and kept in the groups, so its state dicts load and ours
# read like its own; chainrule has one implementation, and they change no number.


class Optimizer:
    """Base class: the parameter groups, the per-parameter state, ``step`` and ``state_dict``.

    ``params`` is an iterable of tensors (a Module's ``parameters()``, or the Module), or of
    dicts, one per group, each with ``"params"`` and the options it sets itself. A subclass
    passes its options as ``defaults``, lists the ones that must be >= 0 in ``nonnegative``,
    and writes ``_update(w, dw, state, group)`` (``_init_state`` makes a parameter's state):

    >>> import chainrule as cr
    >>> class SignSGD(Optimizer):
    ...     def __init__(self, params, lr=0.1):
    ...         super().__init__(params, {"lr": lr})
    ...     def _update(self, w, dw, state, group):
    ...         w -= group["lr"] * ((dw > 0) * 1.0 - (dw < 0))
    >>> w, b = cr.Tensor([1.0, -1.0], requires_grad=True), cr.Tensor([1.0], requires_grad=True)
    >>> opt = SignSGD([{"params": [w]}, {"params": [b], "lr": 0.5}])
    >>> (w * w).sum().backward(); (b * b).sum().backward(); opt.step(); w.numpy(), b.numpy()
    (array([ 0.9, -0.9], dtype=float32), array([0.5], dtype=float32))

    ``opt.lr`` reads group 0's rate and setting it sets every group's; any other option
    (``opt.momentum``...) reads and sets the same way, and ``opt.params`` lists every parameter.
    """

    nonnegative: tuple[str, ...] = ("lr",)  # options that must be numbers >= 0
    scalars: tuple[str, ...] = ()  # state entries that are 0-d arrays (NAdam's mu_product)
    renamed: dict[str, str] = {}  # chainrule's state names before PyTorch's (old checkpoints)

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params is one Tensor; expected an iterable of Tensors or of dicts (groups)")
        self._check(defaults)
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        groups = list(params.parameters() if hasattr(params, "parameters") else params)
        if not groups:
            raise ValueError(f"{name}: got no parameters; expected at least one tensor to optimize")
        for group in groups if isinstance(groups[0], dict) else [{"params": groups}]:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (``{"params": [...], option: value, ...}``); missing options take the defaults."""
        name = type(self).__name__
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{name}.add_param_group: {type(param_group).__name__}; expected a dict with 'params'")
        params = param_group["params"]
        if isinstance(params, set):
            raise TypeError(f"{name}: parameters in a set have no fixed order; expected a list")
        params = [params] if isinstance(params, Tensor) else list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]  # named_parameters(): (name, tensor) pairs
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names and len(names) != len(params):
            raise ValueError(f"{name}: some parameters of a group are named and some are not")
        seen = len(self.params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{name}: parameter {seen + i} is not a Tensor that requires grad")
        group = {"params": params, **{k: v for k, v in param_group.items() if k != "params"}}
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        if names:
            group["param_names"] = names
        self._check(group)
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def _check(self, options: dict[str, Any]) -> None:
        """Raise ValueError, naming the class, the option and its value, unless the options are
        valid: numbers finite, the ``nonnegative`` ones >= 0, ``betas`` two numbers in [0, 1)."""
        name = type(self).__name__
        for k, v in options.items():
            if _number(v) and not math.isfinite(v):
                raise ValueError(f"{name}: {k}={v!r}; expected a finite number")
        for k in self.nonnegative:
            if k in options and not (_number(options[k]) and options[k] >= 0):
                raise ValueError(f"{name}: {k}={options[k]!r}; expected a number >= 0")
        if options.get("differentiable"):  # PyTorch's records the update in the graph; ours runs under no_grad
            raise ValueError(f"{name}: differentiable=True; chainrule's updates are not differentiable (expected False)")
        betas = options.get("betas", (0.0, 0.0))
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2 and all(_number(b) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"{name}: betas={betas!r}; expected two numbers in [0, 1)")

    # -- the options, PyTorch's way and chainrule's older one ----------------------------------
    @property
    def params(self) -> list[Tensor]:
        """Every parameter, group after group."""
        return [p for g in self.param_groups for p in g["params"]]

    @property
    def lr(self) -> Any:
        """Group 0's learning rate; setting it sets every group's."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: Any) -> None:
        for g in self.param_groups:
            g["lr"] = value

    def __getattr__(self, name: str) -> Any:  # only for names not found otherwise: an option
        groups, defaults = self.__dict__.get("param_groups"), self.__dict__.get("defaults", {})
        if groups and name in defaults:
            return groups[0][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__.get("defaults", {}) and "param_groups" in self.__dict__ and not hasattr(type(self), name):
            for g in self.param_groups:
                g[name] = value
        else:
            object.__setattr__(self, name, value)

    # -- the step -----------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient (before the next backward); ``set_to_none=False``
        writes zeros into it instead."""
        zero_grads(self.params, set_to_none, f"{type(self).__name__}.zero_grad")

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; ``closure`` (run first, with
        gradients on) recomputes the loss, which ``step`` returns."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        watch = watcher()
        if watch is not None:  # a trace (``chainrule.compile``) binds the state it reads
            watch.uses_optimizer(self)
        follow = backend._cupy is not None  # a GPU array has been seen: parameters may have moved
        who = f"{type(self).__name__}.step"
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if follow and state:
                    _follow(state, p._data)
                if not state:
                    state.update(self._init_state(p._data, group))
                self._update(write_in_place(p, who), p.grad.data, state, group)
        if watch is not None:
            watch.back_in_code()
        return loss

    def _init_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        """A parameter's state before its first update (PyTorch's names and initial values)."""
        return {}

    def _update(self, w: Any, dw: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """PyTorch's shape: ``{"state": {index: {...}}, "param_groups": [{option: value, ...,
        "params": [index, ...]}]}``, the indices counting parameters group after group; arrays
        are NumPy copies, step counts ints. Parameters without state are left out."""
        index = {id(p): i for i, p in enumerate(self.params)}
        groups = [{**{k: list(v) if isinstance(v, list) else v for k, v in g.items() if k != "params"},
                   "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups]  # fmt: skip
        state = {index[id(p)]: {k: _plain(v) for k, v in s.items()} for p, s in self.state.items() if s and id(p) in index}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def check_state_dict(self, sd: Any) -> dict[str, Any]:
        """Raise ValueError unless ``sd`` can be loaded: the groups (their count, sizes and
        options), each parameter's state (PyTorch's names for this algorithm, the parameter's
        shape, finite values, counts >= 0). Changes nothing; returns ``sd`` as ``load_state_dict``
        takes it (an older chainrule one, ``{"hyper", "state"}``, converted; counts as ints)."""
        name = f"{type(self).__name__}.load_state_dict"
        if isinstance(sd, dict) and "hyper" in sd:
            sd = self._from_old(sd)
        if not isinstance(sd, dict) or not isinstance(sd.get("param_groups"), list) or not isinstance(sd.get("state"), dict):
            raise ValueError(f"{name}: expected {{'state': dict, 'param_groups': list}}; got {_brief(sd)}")
        saved = sd["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"{name}: {len(saved)} parameter groups; this optimizer has {len(self.param_groups)}")
        groups, owner = [], {}
        for i, (g, s) in enumerate(zip(self.param_groups, saved)):
            ids = s.get("params") if isinstance(s, dict) else None
            if not isinstance(ids, list) or not all(type(k) is int for k in ids) or len(ids) != len(g["params"]):
                raise ValueError(f"{name}: param_groups[{i}] lists {_brief(ids)} as its parameters; "
                                 f"expected {len(g['params'])} ids (ints)")  # fmt: skip
            options = {k: tuple(v) if isinstance(self.defaults.get(k), tuple) and isinstance(v, list) else v
                       for k, v in s.items()}  # fmt: skip
            options = {**self.defaults, **options}
            try:
                self._check({k: v for k, v in options.items() if k != "params"})
            except ValueError as e:
                raise ValueError(f"{name}: hyperparameters of param_groups[{i}]: {e}") from None
            for k in ("initial_lr", "max_lr", "min_lr"):  # a schedule's keys
                if k in options and not (_number(options[k]) and options[k] >= 0 and math.isfinite(options[k])):
                    raise ValueError(f"{name}: param_groups[{i}] has {k}={options[k]!r}; expected a finite number >= 0")
            groups.append(options)
            owner.update({k: (p, options) for k, p in zip(ids, g["params"])})
        if len(owner) != len(self.params):
            raise ValueError(f"{name}: a parameter id appears twice in param_groups")
        state = {}
        for k, s in sd["state"].items():
            if k not in owner:
                raise ValueError(f"{name}: state for parameter id {k!r}, which no group lists")
            if not isinstance(s, dict):
                raise ValueError(f"{name}: state of parameter {k} is {_brief(s)}; expected a dict")
            state[k] = self._check_param_state(k, *owner[k], s)
        return {"state": state, "param_groups": groups}

    def _check_param_state(self, i: int, p: Tensor, group: dict[str, Any], s: dict[str, Any]) -> dict[str, Any]:
        """One parameter's loaded state, checked: the keys this algorithm keeps under the
        group's options, arrays of ``p``'s shape (0-d for a scalar), finite; counts as ints."""
        name = f"{type(self).__name__}.load_state_dict"
        if not s:
            return {}
        out = {}
        for k, v in s.items():
            if k == "step":
                out[k] = _count(name, f"{k} of parameter {i}", v)
                continue
            shape = () if k in self.scalars else p.shape
            if not hasattr(v, "shape") or tuple(v.shape) != shape:
                raise ValueError(f"{name}: {k} of parameter {i} is {_brief(v)}; expected an array of shape {shape}")
            if not bool(array_module(v).isfinite(v).all()):
                raise ValueError(f"{name}: {k} of parameter {i} holds NaN or Inf")
            out[k] = v
        want = self._init_state(np.zeros((), dtype=p.dtype), group).keys() | self._lazy_state(group)
        if set(s) != set(want):
            raise ValueError(f"{name}: state of parameter {i} has {sorted(s)}; {type(self).__name__} with these "
                             f"options keeps {sorted(want)}")  # fmt: skip
        return out

    def _lazy_state(self, group: dict[str, Any]) -> set[str]:
        """State keys made by the first update rather than ``_init_state`` (SGD's momentum buffer)."""
        return set()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``state_dict()`` output (ours or PyTorch's, its tensors as arrays), checked
        first (``check_state_dict``): a bad one changes nothing. The groups take the saved
        options, as in PyTorch; the arrays land on each parameter's device, in its dtype."""
        self._apply_state(self.check_state_dict(state_dict))

    def _apply_state(self, sd: dict[str, Any]) -> None:
        """Take a checked state dict (``check_state_dict``'s result). Groups and state dicts are
        updated in place, so a compiled step that bound them reads the new values."""
        ids = [k for s in sd["param_groups"] for k in s["params"]]
        by_id = dict(zip(ids, self.params))
        for g, saved in zip(self.param_groups, sd["param_groups"]):
            params, names = g["params"], g.get("param_names")
            g.clear()
            g.update({k: v for k, v in saved.items() if k != "params"}, params=params)
            if names is not None:
                g.setdefault("param_names", names)
        for s in self.state.values():
            s.clear()
        for k, s in sd["state"].items():
            p = by_id[k]
            self.state[p].update({key: _on(v, p.data) for key, v in s.items()})

    def _from_old(self, sd: dict[str, Any]) -> dict[str, Any]:
        """An older chainrule state dict (``{"hyper": {...}, "state": [per parameter]}``, one
        group, chainrule's state names) in PyTorch's shape; malformed ones are left to the checks."""
        hyper, states = sd.get("hyper"), sd.get("state")
        if not isinstance(hyper, dict) or not isinstance(states, list):
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected 'hyper' (a dict) and 'state' (a list)")
        if len(states) != len(self.params):
            raise ValueError(f"{type(self).__name__}.load_state_dict: state for {len(states)} parameters; "
                             f"this optimizer has {len(self.params)}")  # fmt: skip
        groups = [{**hyper, "params": list(range(len(states)))}]
        if len(self.param_groups) != 1:
            groups = []  # (the group count check names the problem)
        state = {}
        for i, s in enumerate(states):
            s = {self.renamed.get(k, k): v for k, v in s.items()} if isinstance(s, dict) else s
            if isinstance(s, dict) and "step" in s and "step" not in self._init_state(np.zeros(()), {**self.defaults, **hyper}):
                s.pop("step")  # chainrule counted steps for every algorithm; PyTorch's SGD does not
            state[i] = s
        return {"state": state, "param_groups": groups}


def _number(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _brief(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else f"a {type(v).__name__}"


def _count(name: str, what: str, v: Any) -> int:
    """A step count from a state dict: an int, or PyTorch's float tensor (as a 0-d array), >= 0."""
    if hasattr(v, "shape") and v.shape == () and v.dtype.kind in "iuf":
        v = to_numpy(v).item()
    if _number(v) and v >= 0 and float(v).is_integer():
        return int(v)
    raise ValueError(f"{name}: {what} is {_brief(v)}; expected a count >= 0")


def _plain(v: Any) -> Any:
    """A state value for ``state_dict``: a NumPy copy of an array, a count as an int (a compiled
    step on a GPU keeps its counts there as 0-d arrays), lists element by element."""
    if isinstance(v, (list, tuple)):
        return type(v)(_plain(x) for x in v)
    if isinstance(v, np.generic):
        return v.item()
    if not hasattr(v, "shape"):
        return v
    if v.ndim == 0 and v.dtype.kind == "i":
        return int(v)
    return to_numpy(v).copy()


def _on(v: Any, w: Any) -> Any:
    """The state value ``v`` on parameter values ``w``'s device, in their dtype (a count keeps its own)."""
    if isinstance(v, list):
        return [_on(x, w) for x in v]
    if not hasattr(v, "shape"):
        return v
    return array_module(w).asarray(devices.like(v, w), dtype=w.dtype if v.dtype.kind == "f" else v.dtype)


def _follow(state: dict[str, Any], w: Any) -> None:
    """Move a parameter's state arrays to where its values are now (a ``Module.to`` after
    steps were taken): the state follows the parameters, as a checkpoint's does on load."""
    for k, v in state.items():
        if hasattr(v, "shape") and (type(v) is not type(w) or getattr(v, "device", None) != getattr(w, "device", None)):
            state[k] = _on(v, w)


def scalar(x: Any, w: Any) -> Any:
    """A scalar of an update in ``w``'s dtype. A Python number is left as it is (NumPy computes
    it in ``w``'s dtype); a 0-d array - made from a step count that a compiled step traces as an
    int64 array - is cast, so a float32 update stays float32 as the eager one does.

    So that a compiled float32 step gives the eager one's bits, the updates compute such scalars
    in float64 and cast once, at the end, and multiply arrays (never other scalars) by ``lr``
    (a 0-d array of ``w``'s dtype inside a compiled step, a Python float outside)."""
    return x if type(x) in (int, float) else x.astype(w.dtype)
