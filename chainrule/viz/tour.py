"""The lecture, reproduced: ``python -m chainrule tour``.

Each example is a function that builds its graph with chainrule, runs backward and
returns what it found (the tests assert those numbers); ``run`` prints them with the
backward pass narrated gate by gate, in reverse order, as the lecture draws it:
upstream gradient x local gradient = downstream gradient.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from ..autograd.gradcheck import GradcheckResult, gradcheck, numerical_gradient, value_and_grad
from ..autograd.tensor import Tensor
from ..ops import exp, maximum, sigmoid, softmax
from .explainer import Step, fmt, format_step, trace


@dataclass
class Example:
    title: str
    formula: str
    values: dict[str, Any]
    grads: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    output: str = "f"  # the name of what is differentiated, for printing d<output>/d<input>
    graph: Tensor | None = None  # the output, its graph traced (every wire keeps its gradient)
    check: GradcheckResult | None = None  # analytic against numerical gradients, in float64
    extra: dict[str, Any] = field(default_factory=dict)  # what the report draws (trained runs, histories)


def trace_steps(out: Tensor) -> list[Step]:
    """``out.backward()``, recording each gate's step (see ``chainrule.viz.explainer.trace``)."""
    return trace(out).steps


def _check(fn: Any, *values: Any) -> GradcheckResult:
    """The example's function checked against the numerical gradient (centered, float64)."""
    return gradcheck(fn, *values, raise_exception=False)


def _leaf(v: Any, name: str, dtype: str = "float64") -> Tensor:
    return Tensor(v, requires_grad=True, dtype=dtype, name=name)


def _named(t: Tensor, name: str) -> Tensor:
    t.name = name
    return t


# -- the examples -------------------------------------------------------------------


def example_add_mul() -> Example:
    """Worked example 1: f(x, y, z) = (x + y) z at x = -2, y = 5, z = -4.

    >>> example_add_mul().grads
    {'x': -4.0, 'y': -4.0, 'z': 3.0}
    """
    x, y, z = _leaf(-2.0, "x"), _leaf(5.0, "y"), _leaf(-4.0, "z")
    q = _named(x + y, "q")
    f = _named(q * z, "f")
    steps = trace_steps(f)
    return Example(
        "Worked example 1: f(x, y, z) = (x + y) z",
        "q = x + y;  f = q * z",
        {"x": -2.0, "y": 5.0, "z": -4.0, "q": q.item(), "f": f.item()},
        {"x": x.grad.item(), "y": y.grad.item(), "z": z.grad.item()},
        steps,
        ["add gate: distributes the upstream gradient (-4) to x and y",
         "mul gate: swaps - z gets q (3), q gets z (-4)"],
        graph=f,
        check=_check(lambda x, y, z: (x + y) * z, -2.0, 5.0, -4.0),
    )


NEURON_AT = (2.0, -1.0, -3.0, -2.0, -3.0)  # w0, x0, w1, x1, w2


def _neuron(w0: Any, x0: Any, w1: Any, x1: Any, w2: Any) -> Tensor:
    return 1.0 / (1.0 + exp(-(w0 * x0 + w1 * x1 + w2)))


def _neuron_inputs() -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    return (_leaf(2.0, "w0"), _leaf(-1.0, "x0"), _leaf(-3.0, "w1"), _leaf(-2.0, "x1"), _leaf(-3.0, "w2"))


def example_neuron_circuit() -> Example:
    """Worked example 2: the sigmoid neuron as a circuit of small gates."""
    w0, x0, w1, x1, w2 = _neuron_inputs()
    a = _named(w0 * x0, "w0*x0")
    b = _named(w1 * x1, "w1*x1")
    dot = _named(_named(a + b, "w0x0+w1x1") + w2, "dot")
    neg = _named(dot * -1.0, "-dot")
    e = _named(exp(neg), "exp(-dot)")
    den = _named(e + 1.0, "1+exp(-dot)")
    f = _named(1.0 / den, "f")
    steps = trace_steps(f)
    return Example(
        "Worked example 2a: a sigmoid neuron as a circuit of gates",
        "f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2)))",
        {"w": [2.0, -3.0, -3.0], "x": [-1.0, -2.0], "f": f.item()},
        {"w": [w0.grad.item(), w1.grad.item(), w2.grad.item()], "x": [x0.grad.item(), x1.grad.item()]},
        steps,
        graph=f,
        check=_check(_neuron, *NEURON_AT),
    )


def example_neuron_sigmoid_gate() -> Example:
    """The same neuron with one sigmoid gate, local gradient (1 - s) s."""
    w0, x0, w1, x1, w2 = _neuron_inputs()
    dot = _named(w0 * x0 + w1 * x1 + w2, "dot")
    f = _named(sigmoid(dot), "f")
    s = f.item()
    steps = trace_steps(f)
    return Example(
        "Worked example 2b: the same neuron with one sigmoid gate",
        "f = sigmoid(w0 x0 + w1 x1 + w2),  dsigma/dt = (1 - sigma) sigma",
        {"f": s, "local": (1 - s) * s},
        {"w": [w0.grad.item(), w1.grad.item(), w2.grad.item()], "x": [x0.grad.item(), x1.grad.item()]},
        steps[:1],
        [f"the sigmoid gate's local gradient (1 - {s:.2f}) * {s:.2f} = {(1 - s) * s:.2f} "
         "replaces the four gates -1, exp, +1 and 1/x"],
        graph=f,
        check=_check(lambda w0, x0, w1, x1, w2: sigmoid(w0 * x0 + w1 * x1 + w2), *NEURON_AT),
    )


def example_patterns() -> Example:
    """Patterns in backward flow: add distributes, max routes, mul swaps."""
    x, y, z, w = _leaf(3.0, "x"), _leaf(-4.0, "y"), _leaf(2.0, "z"), _leaf(-1.0, "w")
    xy = _named(x * y, "x*y")
    m = _named(maximum(z, w), "max(z,w)")
    s = _named(xy + m, "sum")
    f = _named(s * 2.0, "f")
    steps = trace_steps(f)
    return Example(
        "Patterns in backward flow",
        "f = 2 (x y + max(z, w)) at x=3, y=-4, z=2, w=-1",
        {"f": f.item()},
        {"x": x.grad.item(), "y": y.grad.item(), "z": z.grad.item(), "w": w.grad.item()},
        steps,
        ["add gate distributes: both x*y and max(z,w) get 2",
         "max gate routes: z (the larger) gets all 2, w gets 0",
         "mul gate swaps: x gets y * 2 = -8, y gets x * 2 = 6"],
        graph=f,
        check=_check(lambda x, y, z, w: (x * y + maximum(z, w)) * 2.0, 3.0, -4.0, 2.0, -1.0),
    )


def example_branch() -> Example:
    """A value used in several places: the gradients flowing back to it add up."""
    u = _leaf(3.0, "u")
    g = _named(_named(u * u, "u*u") + u, "g")
    steps = trace_steps(g)
    return Example(
        "A branch sums its gradients",
        "g = u*u + u at u=3",
        {"g": g.item()},
        {"u": u.grad.item()},
        steps,
        ["u is used three times: dg/du = 3 + 3 + 1 = 7"],
        output="g",
        graph=g,
        check=_check(lambda u: u * u + u, 3.0),
    )


def example_vectorized() -> Example:
    """f = ||W x||^2 with a 2x2 W: dW = 2 q x^T and dx = 2 W^T q, where q = W x."""
    W = _leaf([[0.1, 0.5], [-0.3, 0.8]], "W")
    x = _leaf([0.2, 0.4], "x")
    q = _named(W @ x, "q")
    f = _named(_named(q * q, "q*q").sum(), "f")
    steps = trace_steps(f)
    qv = q.numpy()
    num_W = numerical_gradient(lambda w: ((w @ x.detach()) ** 2).sum(), W.numpy())
    return Example(
        "Vectorized: f = ||W x||^2",
        "q = W x;  f = sum(q ** 2);  df/dW = 2 q x^T;  df/dx = 2 W^T q",
        {"q": qv, "f": f.item()},
        {"W": W.grad.numpy(), "x": x.grad.numpy(), "W (by formula)": 2 * np.outer(qv, x.numpy()),
         "W (numerical)": num_W},
        steps,
        graph=f,
        check=_check(lambda W, x: ((W @ x) ** 2).sum(), np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])),
    )


def attention_head(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """One head of scaled dot-product attention, gate by gate: scores, softmax, weighted sum."""
    scores = _named(q @ k.T / float(np.sqrt(q.shape[-1])), "scores")  # (queries, keys)
    weights = _named(softmax(scores, axis=-1), "weights")  # each row sums to 1
    return _named(weights @ v, "out")  # (queries, value width)


def example_attention() -> Example:
    """The Transformer's gate: two queries attend over three keys; the backward pass walks the
    weighted sum, the softmax and the scores, and every upstream gradient is summed where the
    lecture says (k and v each feed every query's row)."""
    q = _leaf([[1.0, 0.0], [0.5, 1.0]], "q")
    k = _leaf([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], "k")
    v = _leaf([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]], "v")
    f = _named((attention_head(q, k, v) * np.array([[1.0, -1.0], [0.5, 2.0]])).sum(), "f")
    steps = trace_steps(f)
    weights = softmax(q.detach() @ k.detach().T / np.sqrt(2), axis=-1).numpy()
    return Example(
        "Attention, one head: out = softmax(q k^T / sqrt(d)) v",
        "scores = q k^T / sqrt(2);  weights = softmax(scores) per row;  out = weights v;  f = sum(out * c)",
        {"weights": weights, "f": f.item()},
        {"q": q.grad.numpy(), "k": k.grad.numpy(), "v": v.grad.numpy(),
         "v (by formula: weights^T upstream)": weights.T @ np.array([[1.0, -1.0], [0.5, 2.0]])},
        steps,
        graph=f,
        notes=["the weighted sum swaps, as mul does: dv = weights^T upstream, dweights = upstream v^T",
               "softmax's local gradient: dscores = weights * (dweights - sum(dweights * weights) per row)"],
        check=_check(lambda q, k, v: (attention_head(q, k, v) * np.array([[1.0, -1.0], [0.5, 2.0]])).sum(),
                     np.array([[1.0, 0.0], [0.5, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
                     np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]])),
    )  # fmt: skip


def svm_loss(W: Tensor, X: np.ndarray, y: np.ndarray, reg: float) -> Tensor:
    """The lecture's full loss: (1/N) sum_i sum_{j != y_i} max(0, s_j - s_{y_i} + 1) + reg sum W^2,
    with scores s = W x for each example (the columns of X.T; a bias is folded into W)."""
    n = X.shape[0]
    scores = Tensor(X, dtype=W.dtype) @ W.T  # (N, C): row i is W x_i
    correct = scores[np.arange(n), y].reshape(n, 1)  # (N, 1): s_{y_i}
    margins = maximum(scores - correct + 1.0, 0.0)  # (N, C)
    not_correct = np.ones(scores.shape)
    not_correct[np.arange(n), y] = 0.0  # the sum skips j == y_i
    return (margins * not_correct).sum() / n + reg * (W * W).sum()


def example_svm(steps: int = 10, step_size: float = 0.05) -> Example:
    """Linear scores, multiclass SVM loss with L2, its gradient checked, gradient descent.

    One ``W`` throughout: the graph is drawn at the W that descent starts from, so the graph's
    L, the gradient table (read off the graph's backward pass) and the curve's first point agree.

    >>> ex = example_svm(steps=1)
    >>> ex.graph.item() == ex.values["losses"][0]
    True
    """
    rng = np.random.default_rng(0)
    n, d, c, reg = 12, 4, 3, 0.1
    X = np.hstack([rng.standard_normal((n, d - 1)), np.ones((n, 1))])  # bias trick: a constant 1
    y = rng.integers(0, c, n)
    W = rng.standard_normal((c, d)) * 0.5
    W_start = W.copy()  # descent updates W in place; the graph, the table and the check stay at its start

    W0 = _leaf(W_start, "W")
    L = _named(svm_loss(W0, X, y, reg), "L")
    trace(L)  # the graph of the full loss, every wire with its gradient, for pictures
    dW = W0.grad.numpy()  # the gradient table is the graph's own backward pass
    num = numerical_gradient(lambda w: svm_loss(Tensor(w, dtype="float64"), X, y, reg), W_start)
    rel = np.abs(dW - num).max() / max(np.abs(dW).max(), np.abs(num).max())

    evaluate_gradient = value_and_grad(lambda data, weights: svm_loss(weights, *data, reg), argnum=1)
    losses = []
    for _ in range(steps):
        loss, weights_grad = evaluate_gradient((X, y), W)
        losses.append(loss)
        W += -step_size * weights_grad  # the lecture's vanilla update
    losses.append(evaluate_gradient((X, y), W)[0])
    return Example(
        "Linear classifier: s = W x, multiclass SVM loss + L2, gradient descent",
        "L = (1/N) sum_i sum_{j != y_i} max(0, s_j - s_{y_i} + 1) + lambda sum W^2",
        {"N": n, "D": d, "C": c, "lambda": reg, "L": L.item(), "losses": losses},
        {"W (analytic)": dW, "W (numerical)": num, "max relative error": rel},
        output="L",
        graph=L,
        check=_check(lambda w: svm_loss(w, X, y, reg), W_start),
        extra={"W": W_start, "data": (X, y)},
    )


def example_spiral(epochs: int = 2000) -> Example:
    """The course's case study: a linear classifier and a 2-layer ReLU net on the spiral."""
    from ..training.runs import Config
    from ..training.runs import train_classifier as fit

    # the course's recipe: all 300 points, full batch, step size 1 (no validation split)
    common = {"data": "spiral", "batch_size": 300, "lr": 1.0, "reg": 1e-3, "val_fraction": 0.0}
    linear_run = fit(Config(model="linear-softmax", epochs=200, **common), progress=False)
    net_run = fit(Config(model="mlp", epochs=epochs, hidden=100, **common), progress=False)
    linear, net = linear_run.history, net_run.history
    return Example(
        "The spiral: a linear classifier against a 2-layer net (100 ReLUs), softmax loss + L2",
        "scores = W2 max(0, W1 x + b1) + b2;  L = cross-entropy + 1e-3 (|W1|^2 + |W2|^2)",
        {
            "linear training accuracy": linear[-1]["train_acc"],
            "net training accuracy": net[-1]["train_acc"],
            "losses": [h["train_loss"] for h in net[:: max(1, epochs // 8)]] + [net[-1]["train_loss"]],
        },
        {},
        output="L",
        notes=[
            f"linear classifier: {linear[-1]['train_acc']:.0%} training accuracy after 200 steps "
            "(a line cannot separate the arms)",
            f"2-layer net: {net[-1]['train_acc']:.0%} training accuracy, {net_run.test['test_acc']:.0%} on a fresh "
            f"draw of the spiral, after {epochs} steps",
        ],
        extra={"runs": {"linear classifier": linear_run, "2-layer net": net_run}},
    )


def example_vanishing(epochs: int = 10) -> Example:
    """Why ReLU: the per-layer gradient norms of a deep sigmoid net and a deep ReLU net."""
    from ..training.runs import Config
    from ..training.runs import train_classifier as fit

    runs = {}
    for act in ("sigmoid", "relu"):
        cfg = Config(model="mlp", data="spiral", depth=6, hidden=50, activation=act, epochs=epochs, batch_size=30, lr=0.1)
        runs[f"6 hidden layers, {act}"] = fit(cfg, progress=False)
    ratios = {}
    for name, run in runs.items():
        norms = [v for k, v in run.history[-1].items() if k.startswith("grad_norm/")]
        ratios[name] = norms[0] / norms[-1]
    sig, rel = ratios.values()
    return Example(
        "Vanishing gradients: a deep sigmoid net against a deep ReLU net",
        "|dL/dW| per layer, first over last: sigmoid's local gradient is at most 1/4, and the chain multiplies them",
        {"first/last layer, sigmoid": sig, "first/last layer, relu": rel},
        {},
        output="L",
        notes=[f"sigmoid: the first layer's gradient is {sig:.1e} of the last one's; relu: {rel:.2g}"],
        extra={"histories": {name: run.history for name, run in runs.items()}},
    )


EXAMPLES = (
    example_add_mul,
    example_neuron_circuit,
    example_neuron_sigmoid_gate,
    example_patterns,
    example_branch,
    example_vectorized,
    example_attention,
    example_svm,
    example_spiral,
    example_vanishing,
)


# -- printing ---------------------------------------------------------------------------


def run(stream: TextIO | None = None) -> list[Example]:
    """Print the whole tour to ``stream`` (stdout by default); return the examples.

    >>> import io
    >>> buf = io.StringIO()
    >>> len(run(buf)) == len(EXAMPLES) and "df/dz = 3" in buf.getvalue()
    True
    """
    out = stream or sys.stdout
    results = []
    for make in EXAMPLES:
        ex = make()
        results.append(ex)
        print(f"\n== {ex.title}\n   {ex.formula}", file=out)
        print("   forward: " + ", ".join(f"{k}={fmt(v)}" for k, v in ex.values.items() if k != "losses"), file=out)
        if ex.steps:
            print("   backward, gate by gate (upstream x local = downstream):", file=out)
            for st in ex.steps:
                print(format_step(st), file=out)
        for k, v in ex.grads.items():
            if "error" in k:
                print(f"   {k} (analytic vs numerical): {float(v):.2e}", file=out)
            else:
                print(f"   d{ex.output}/d{k} = {fmt(v)}", file=out)
        if "losses" in ex.values:
            ls = ex.values["losses"]
            print("   gradient descent (W += -step_size * dW): loss " + " -> ".join(f"{v:.3f}" for v in ls), file=out)
        if ex.check is not None:
            verdict = "passed" if ex.check.passed else "FAILED"
            print(f"   gradient check (centered numerical gradient, float64): {verdict}, max relative error "
                  f"{ex.check.max_rel_error:.1e}", file=out)  # fmt: skip
        for note in ex.notes:
            print(f"   * {note}", file=out)
    return results
