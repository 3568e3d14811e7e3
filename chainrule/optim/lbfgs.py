"""L-BFGS (Liu & Nocedal, 1989) with an optional strong-Wolfe line search, as PyTorch's
``torch.optim.LBFGS`` (itself after Schmidt's minFunc)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd.grad_mode import enable_grad, no_grad
from ..autograd.inplace import write_in_place
from ..autograd.tensor import Tensor
from ..backend import array_module
from .optimizer import Optimizer, _brief, _count, _number


class LBFGS(Optimizer):
    """Limited-memory BFGS: a quasi-Newton direction from the last ``history_size`` steps and
    gradient changes (the two-loop recursion), ``max_iter`` iterations per ``step(closure)``.

    ``closure`` recomputes the loss and its gradients (``zero_grad``, forward, ``backward``)
    and returns the loss; ``step`` calls it as often as it needs and returns its first loss.
    One parameter group only, all parameters on one device, as in PyTorch. The parameters are
    seen as one flat vector; its state lives with the first parameter.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.5, -0.5], requires_grad=True, dtype="float64")
    >>> opt = LBFGS([w], line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad(); loss = ((w - cr.Tensor([1.0, 2.0], dtype="float64")) ** 2).sum(); loss.backward()
    ...     return loss
    >>> loss = opt.step(closure); [round(v, 6) for v in w.numpy().tolist()]
    [1.0, 2.0]
    """

    nonnegative = ("lr", "tolerance_grad", "tolerance_change")

    def __init__(self, params: Any, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:  # fmt: skip
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        super().__init__(params, {"lr": lr, "max_iter": max_iter, "max_eval": max_eval, "tolerance_grad": tolerance_grad,
                                  "tolerance_change": tolerance_change, "history_size": history_size,
                                  "line_search_fn": line_search_fn})  # fmt: skip

    def _check(self, options: dict[str, Any]) -> None:
        super()._check(options)
        for k in ("max_iter", "max_eval", "history_size"):
            if k in options and not (type(options[k]) is int and options[k] >= 1):
                raise ValueError(f"LBFGS: {k}={options[k]!r}; expected an int >= 1")
        if options.get("line_search_fn") not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn={options['line_search_fn']!r}; expected None or 'strong_wolfe'")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.__dict__.get("param_groups"):
            raise ValueError("LBFGS: one parameter group only (per-parameter options are not supported)")
        super().add_param_group(param_group)

    # -- the parameters as one flat vector ----------------------------------------------------
    def _flat_grad(self) -> Any:
        params = self.param_groups[0]["params"]
        xp = array_module(params[0].data)
        return xp.concatenate([p.grad.data.ravel() if p.grad is not None else xp.zeros(p.numel(), dtype=p.dtype)
                               for p in params])  # fmt: skip

    def _add(self, t: Any, d: Any) -> None:
        """w += t * d, d cut into the parameters' shapes."""
        start = 0
        for p in self.param_groups[0]["params"]:
            w = write_in_place(p, "LBFGS.step")
            w += t * d[start : start + w.size].reshape(w.shape)
            start += w.size

    def _set(self, values: list[Any]) -> None:
        for p, v in zip(self.param_groups[0]["params"], values):
            write_in_place(p, "LBFGS.step")[...] = v

    def _evaluate(self, closure: Callable[[], Any], x: list[Any], t: Any, d: Any) -> tuple[float, Any]:
        """The loss and flat gradient at x + t d (the line search's probe); the weights go back to x."""
        self._add(t, d)
        loss = float(closure())
        flat_grad = self._flat_grad()
        self._set(x)
        return loss, flat_grad

    def _direction(self, state: dict[str, Any], g: Any, history: int) -> Any:
        """-H g by the two-loop recursion over the stored (y, s) pairs, H_0 = H_diag * I."""
        if state["n_iter"] == 1:
            state.update(d=-g, old_dirs=[], old_stps=[], ro=[], H_diag=1)
            return state["d"]
        y, s = g - state["prev_flat_grad"], state["d"] * state["t"]  # gradient change, step taken
        ys = y.dot(s)
        if ys > 1e-10:  # curvature condition: keep the pair (dropping the oldest when full)
            if len(state["old_dirs"]) == history:
                for k in ("old_dirs", "old_stps", "ro"):
                    state[k].pop(0)
            state["old_dirs"].append(y)
            state["old_stps"].append(s)
            state["ro"].append(1.0 / ys)
            state["H_diag"] = ys / y.dot(y)
        dirs, stps, ro = state["old_dirs"], state["old_stps"], state["ro"]
        al = state.setdefault("al", [None] * history)
        q = -g
        for i in range(len(dirs) - 1, -1, -1):
            al[i] = stps[i].dot(q) * ro[i]
            q -= al[i] * dirs[i]
        r = q * state["H_diag"]
        for i in range(len(dirs)):
            r += (al[i] - dirs[i].dot(r) * ro[i]) * stps[i]
        return r

    @no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Up to ``max_iter`` L-BFGS iterations; returns the closure's first loss."""
        if closure is None:
            raise TypeError("LBFGS.step: needs a closure that recomputes the loss and its gradients and returns the loss")

        def evaluate() -> Any:
            with enable_grad():
                return closure()

        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        state = self.state[group["params"][0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        orig_loss = evaluate()
        loss, evals = float(orig_loss), 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if abs(flat_grad).max() <= tol_grad:  # already optimal
            return orig_loss
        for n_iter in range(1, max_iter + 1):
            state["n_iter"] += 1
            d = state["d"] = self._direction(state, flat_grad, group["history_size"])
            state["prev_flat_grad"] = flat_grad.copy()
            state["prev_loss"] = prev_loss = loss
            # the first step is scaled to at most lr / |g|_1; later ones take lr
            t = min(1.0, 1.0 / abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)  # directional derivative: not a descent direction below -tol
            if gtd > -tol_change:
                state["t"] = t
                break
            ls_evals = 0
            if group["line_search_fn"] is not None:
                x = [p.data.copy() for p in group["params"]]
                loss, flat_grad, t, ls_evals = _strong_wolfe(lambda x, t, d: self._evaluate(evaluate, x, t, d), x, t, d,
                                                             loss, flat_grad, gtd, max_ls=max_eval - evals)  # fmt: skip
                self._add(t, d)
                optimal = abs(flat_grad).max() <= tol_grad
            else:  # a fixed step, and a new loss and gradient unless this was the last iteration
                self._add(t, d)
                optimal = False
                if n_iter != max_iter:
                    loss, flat_grad, ls_evals = float(evaluate()), self._flat_grad(), 1
                    optimal = abs(flat_grad).max() <= tol_grad
            state["t"] = t
            evals += ls_evals
            state["func_evals"] += ls_evals
            if (n_iter == max_iter or evals >= max_eval or optimal or abs(d * t).max() <= tol_change
                    or abs(loss - prev_loss) < tol_change):  # fmt: skip
                break
        return orig_loss

    # -- checkpoints: the flat vectors, their history and the scalars of the last iteration ----
    def _check_param_state(self, i: int, p: Tensor, group: dict[str, Any], s: dict[str, Any]) -> dict[str, Any]:
        name = "LBFGS.load_state_dict"
        n = sum(q.numel() for q in self.params)

        def flat(k: str, v: Any) -> Any:
            if not hasattr(v, "shape") or tuple(v.shape) != (n,) or not bool(array_module(v).isfinite(v).all()):
                raise ValueError(f"{name}: {k} is {_brief(v)}; expected a finite array of shape ({n},)")
            return v

        def number(k: str, v: Any) -> float:
            v = v.item() if hasattr(v, "shape") and v.shape == () else v
            if not (_number(v) and np.isfinite(v)):
                raise ValueError(f"{name}: {k} is {_brief(v)}; expected a finite number")
            return float(v)

        out: dict[str, Any] = {}
        for k, v in s.items():
            if k in ("func_evals", "n_iter"):
                out[k] = _count(name, k, v)
            elif k in ("d", "prev_flat_grad"):
                out[k] = flat(k, v)
            elif k in ("old_dirs", "old_stps", "ro", "al") and not isinstance(v, list):
                raise ValueError(f"{name}: {k} is {_brief(v)}; expected a list")
            elif k in ("old_dirs", "old_stps"):
                out[k] = [flat(f"{k}[{j}]", x) for j, x in enumerate(v)]
            elif k in ("ro", "al"):
                out[k] = [None if x is None and k == "al" else number(f"{k}[{j}]", x) for j, x in enumerate(v)]
            elif k in ("t", "H_diag", "prev_loss"):
                out[k] = number(k, v)
            else:
                raise ValueError(f"{name}: state has {k!r}; LBFGS keeps func_evals, n_iter, d, t, old_dirs, old_stps, "
                                 "ro, H_diag, prev_flat_grad, prev_loss and al")  # fmt: skip
        lengths = {len(out.get(k, [])) for k in ("old_dirs", "old_stps", "ro")}
        if len(lengths) > 1 or max(lengths) > group["history_size"]:
            raise ValueError(f"{name}: old_dirs, old_stps and ro hold {sorted(lengths)} entries; expected one count "
                             f"<= history_size ({group['history_size']})")  # fmt: skip
        return out


def _cubic_interpolate(x1: Any, f1: Any, g1: Any, x2: Any, f2: Any, g2: Any, bounds: tuple | None = None) -> Any:
    """The minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2), kept inside ``bounds``
    (Nocedal & Wright, eq. 3.59); their midpoint where the cubic has none."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = np.sqrt(d2_square)
    if x1 <= x2:
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, lo), hi)


def _strong_wolfe(obj: Callable, x: list, t: Any, d: Any, f: float, g: Any, gtd: Any, c1: float = 1e-4, c2: float = 0.9,
                  tolerance_change: float = 1e-9, max_ls: int = 25) -> tuple[float, Any, Any, int]:  # fmt: skip
    """A step t along d meeting the strong Wolfe conditions (sufficient decrease c1, curvature
    c2): bracket one, then zoom in by cubic interpolation (Nocedal & Wright, algorithms 3.5-3.6).
    Returns the loss and gradient there, t, and the number of evaluations."""
    d_norm = abs(d).max()
    g = g.copy()
    f_new, g_new = obj(x, t, d)
    ls_evals, ls_iter, done = 1, 0, False
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    while ls_iter < max_ls:  # bracketing
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g, done = [t], [f_new], [g_new], True
            break
        if gtd_new >= 0:
            bracket, bracket_f, bracket_g, bracket_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        min_step, max_step = t + 0.01 * (t - t_prev), t * 10  # extrapolate
        t_prev, t = t, _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        f_prev, g_prev, gtd_prev = f_new, g_new.copy(), gtd_new
        f_new, g_new = obj(x, t, d)
        ls_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:  # reached the most evaluations: the bracket is [0, t]
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]
    insuf_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:  # zoom
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # too close to an end of the bracket twice in a row (or outside it): move 10% of its width in
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj(x, t, d)
        ls_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:  # not enough decrease: shrink from high
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new.copy(), gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = (
                    bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low])
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new.copy(), gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], ls_evals
