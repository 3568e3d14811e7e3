"""The compiled step: replays equal eager steps, the source runs, and what cannot be traced is refused.

Every op, layer function and layer is replayed against eager execution through the oracle's
``check_compiled`` (in test_ops, test_nn_functional, test_nn_modules); here are whole
training steps, the cache and its guards, the generated source, and the errors.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F


def spiral_batches(n_batches: int, batch: int = 16, seed: int = 0) -> list:
    x, y = cr.data.spiral(n_per_class=40, classes=3, seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        idx = rng.choice(len(y), batch, replace=False)
        out.append((x[idx], y[idx]))
    return out


def make_net(kind: str, seed: int = 0):
    cr.manual_seed(seed)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))
    if kind == "bn-dropout":
        return nn.Sequential(nn.Linear(2, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3))
    raise AssertionError(kind)


def classifier_step(net, opt, reg: float = 0.0):
    """The training step these tests compile and run eagerly: cross-entropy (plus ``reg`` times
    the L2 penalty), backward, update; it returns the loss."""

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(net(cr.Tensor(x)), y)
        if reg:
            loss = loss + reg * F.l2_penalty(net.parameters())
        loss.backward()
        opt.step()
        return loss

    return step


def training_run(kind: str, opt_cls, opt_kw: dict, compiled: bool, steps: int = 12):
    net = make_net(kind)
    opt = opt_cls(net.parameters(), **opt_kw)
    step = classifier_step(net, opt, reg=1e-3)
    run = cr.compile(step) if compiled else step
    cr.manual_seed(1)  # dropout's draws: the same sequence for both runs
    losses = [run(x, y).item() for x, y in spiral_batches(steps)]
    state = {k: v.copy() for k, v in net.state_dict().items()}
    return losses, state, opt.state_dict(), run


@pytest.mark.parametrize("kind", ["mlp", "bn-dropout"])
@pytest.mark.parametrize(
    "opt_cls,opt_kw",
    [(cr.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}),
     (cr.optim.Adam, {"lr": 1e-2}), (cr.optim.AdamW, {"lr": 1e-2}), (cr.optim.RMSProp, {"lr": 1e-2}),
     (cr.optim.AdaGrad, {"lr": 1e-1})],  # fmt: skip
    ids=["sgd-nesterov", "adam", "adamw", "rmsprop", "adagrad"],
)
def test_training_steps_compiled_equal_eager(kind, opt_cls, opt_kw):
    losses, state, opt_state, _ = training_run(kind, opt_cls, opt_kw, compiled=False)
    c_losses, c_state, c_opt_state, run = training_run(kind, opt_cls, opt_kw, compiled=True)
    np.testing.assert_allclose(c_losses, losses, rtol=1e-5, atol=1e-7)
    for k in state:
        np.testing.assert_allclose(c_state[k], state[k], rtol=1e-5, atol=1e-7, err_msg=k)
    assert opt_state["state"].keys() == c_opt_state["state"].keys()
    for s, cs in zip(opt_state["state"].values(), c_opt_state["state"].values()):
        assert s.keys() == cs.keys() and s.get("step", 12) == cs.get("step", 12) == 12  # step counts
        assert type(cs.get("step", 0)) is int  # come back as ints (PyTorch's SGD keeps none)
    # the first call traces; the optimizer's state appears after it, so the second traces once more
    # (Adagrad makes its state with the optimizer, as PyTorch's does: one trace)
    assert run.traces_made == (1 if opt_cls is cr.optim.Adagrad else 2)


def test_compiled_training_reaches_the_eager_accuracy():
    x, y = cr.data.spiral(n_per_class=100, classes=3, seed=0)
    accs = []
    for compiled in (False, True):
        cr.manual_seed(0)
        net = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 3))
        opt = cr.optim.Adam(net.parameters(), lr=1e-2)

        step = classifier_step(net, opt)
        run = cr.compile(step) if compiled else step
        for _epoch in range(150):
            run(x, y)
        with cr.no_grad():
            accs.append(float((net(cr.Tensor(x)).numpy().argmax(1) == y).mean()))
    assert accs[0] > 0.9
    assert abs(accs[0] - accs[1]) < 1e-9


def test_the_lectures_example_reads_as_code_and_runs():
    def f(x, y, z):
        out = (x + y) * z
        gx, gy, gz = cr.grad(out, [x, y, z])
        return out, gx, gy, gz

    args = [cr.Tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0)]
    step = cr.compile(f)
    assert [t.item() for t in step(*args)] == [-12.0, -4.0, -4.0, 3.0]
    src = step.source()
    assert "def step(x, y, z, consts):" in src
    assert "# forward: Add (gate 0) on x, y" in src and "# forward: Mul (gate 1)" in src
    assert "# backward: Mul (gate 1), upstream" in src and "swaps" in src and "distributes" in src
    assert "downstream of Mul: input 0 <-" in src
    # the module runs on its own: NumPy calls only
    namespace: dict = {}
    exec(compile(src, "step.py", "exec"), namespace)
    trace = step.trace_for(*args)
    got = namespace["step"](*[np.asarray(v, dtype=np.float32) for v in (1.0, 2.0, 3.0)], trace.consts)
    assert [float(v) for v in got] == [9.0, 3.0, 3.0, 3.0]
    # and replays on new values
    assert [t.item() for t in step(*[cr.Tensor(v, requires_grad=True) for v in (1.0, 2.0, 3.0)])] == [9.0, 3.0, 3.0, 3.0]
    assert step.traces_made == 1


def test_new_shapes_trace_again_and_the_cache_is_bounded():
    w = cr.Tensor(np.ones(3), requires_grad=True)

    @cr.compile(max_traces=2)
    def f(x):
        return (cr.Tensor(x) @ w).sum()

    for n in (4, 5, 4, 5):
        assert f(np.ones((n, 3), np.float32)).item() == 3 * n
    assert f.traces_made == 2
    f(np.ones((6, 3), np.float32))  # a third signature pushes out the oldest (4)
    f(np.ones((5, 3), np.float32))
    assert f.traces_made == 3
    f(np.ones((4, 3), np.float32))
    assert f.traces_made == 4
    f(np.ones((4, 3), np.float64))  # a new dtype is a new signature
    assert f.traces_made == 5


def test_a_changed_learning_rate_is_read_afresh_and_a_changed_mode_traces_again():
    net = make_net("bn-dropout")
    opt = cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.0)
    sched = cr.optim.StepLR(opt, step_size=1, gamma=0.5)

    step = cr.compile(classifier_step(net, opt))
    (x, y), = spiral_batches(1)
    for _ in range(3):
        step(x, y)
    assert step.traces_made == 1  # plain SGD keeps no state (PyTorch's): nothing new appears
    assert opt.lr == 0.1 and type(opt.lr) is float  # a plain number again outside the step
    w = next(net.parameters())
    for lr in (0.05, 0.025):
        before = w.numpy().copy()
        sched.step()  # the schedule halves lr: the replay reads it, no new trace
        step(x, y)
        assert step.traces_made == 1 and opt.lr == lr
        np.testing.assert_allclose(w.numpy(), before - lr * w.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert "sgd_lr" in step.source()
    opt.momentum = 0.9  # any other hyperparameter is a constant of the trace: a new one
    step(x, y)
    assert step.traces_made == 2
    net.eval()  # (and the momentum buffer the last step made)
    step(x, y)
    assert step.traces_made == 3
    src = step.source()
    assert "uniform" not in src  # eval mode: no dropout draws


def test_dropout_draws_anew_at_every_replay():
    drop = nn.Dropout(0.5)

    @cr.compile
    def f(x):
        return drop(cr.Tensor(x))

    masks = [f(np.ones((4, 50), np.float32)).numpy() for _ in range(3)]
    assert f.traces_made == 1
    assert not np.array_equal(masks[1], masks[2])
    assert "uniform((4, 50))" in f.source()


def test_gradients_that_accumulate_are_read_afresh():
    def run(compiled: bool):
        w = cr.Tensor([1.0, 2.0], requires_grad=True)

        def step(x):
            (w * cr.Tensor(x)).sum().backward()  # no zero_grad: gradients add up
            return w.grad

        f = cr.compile(step) if compiled else step
        return [f(np.array([1.0, float(i)], np.float32)).numpy().copy() for i in range(4)], f

    eager, _ = run(False)
    compiled, f = run(True)
    np.testing.assert_array_equal(np.array(compiled), np.array(eager))
    assert f.traces_made == 2  # no gradient yet, then one to add to


def test_slices_and_an_embeddings_rows_replay_as_the_eager_walk_sums_them():
    """The compiled walk sums a split's gradients as eager's does (each slice's written into one
    sum: one zero fill for the three, not three and two full sums) and an embedding's repeated
    rows in one sorted call (not np.add.at); the step equals eager, and the source says where
    each slice's gradient goes."""

    def run(compiled: bool):
        cr.manual_seed(0)
        emb, lin = nn.Embedding(10, 12), nn.Linear(12, 36)

        def step(idx):
            emb.zero_grad()
            lin.zero_grad()
            q, k, v = lin(emb(idx)).split(12, dim=-1)
            loss = (q * q).sum() + (k * k * 3).sum() + (v * v * v).sum()
            loss.backward()
            return loss, emb.weight.grad, lin.weight.grad

        f = cr.compile(step) if compiled else step
        rng = np.random.default_rng(0)
        outs = [[t.numpy().copy() for t in f(rng.integers(0, 10, (8, 16)))] for _ in range(3)]
        return outs, f

    eager, _ = run(False)
    compiled, f = run(True)
    for e, c in zip(eager, compiled):
        for a, b in zip(e, c):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    source = f.source()
    assert source.count("np.zeros((8, 16, 36)") == 1 and "input 0 <- " in source and " at [:, :, 12:24]" in source
    assert "rows_added(" in source and "np.add.at" not in source, source


def test_labels_are_checked_at_every_replay():
    net = make_net("mlp")

    @cr.compile
    def f(x, y):
        return F.cross_entropy(net(cr.Tensor(x)), y)

    x = np.zeros((2, 2), np.float32)
    f(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy: labels range over \[0, 3\]; expected classes 0..2"):
        f(x, np.array([0, 3]))
    assert "check_classes(y)" in f.source()


@pytest.mark.parametrize(
    "body,what",
    [("if loss.item() > 0:\n        pass", r"\.item\(\)"), ("if float(loss) > 0:\n        pass", r"\.item\(\)"),
     ("if (loss > 0):\n        pass", r"bool\(\)")],  # fmt: skip
)
def test_control_flow_on_values_is_refused_at_its_line(body, what):
    w = cr.Tensor([1.0], requires_grad=True)
    namespace = {"cr": cr, "w": w}
    exec(compile(f"def step(x):\n    loss = (w * cr.Tensor(x)).sum()\n    {body}\n    return loss\n", "user_step.py", "exec"),
         namespace)  # fmt: skip
    f = cr.compile(namespace["step"])
    with pytest.raises(cr.TraceError, match=what + r".*user_step.py:3"):
        f(np.ones(1, np.float32))


def test_a_value_kept_outside_the_step_is_refused():
    w = cr.Tensor([1.0], requires_grad=True)
    history = []

    @cr.compile
    def step(x):
        loss = (w * cr.Tensor(x)).sum()
        history.append(loss)
        return loss

    with pytest.raises(cr.TraceError, match="kept a value it computed"):
        step(np.ones(1, np.float32))


def test_source_before_any_call_says_what_to_do():
    f = cr.compile(lambda x: x)
    with pytest.raises(RuntimeError, match="has not run yet"):
        f.source()


def test_threads_trace_and_replay_their_own_steps():
    batches = spiral_batches(6)
    eager, _, _, _ = training_run("mlp", cr.optim.SGD, {"lr": 0.1, "momentum": 0.9}, compiled=False, steps=6)
    results: dict = {}
    nets = [make_net("mlp") for _ in range(3)]  # here: the generator that initializes them is shared

    def worker(k: int) -> None:
        net = nets[k]
        opt = cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        step = cr.compile(classifier_step(net, opt, reg=1e-3))
        results[k] = [step(x, y).item() for x, y in batches]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(3):
        np.testing.assert_allclose(results[k], eager, rtol=1e-6)


def test_compile_source_command_prints_the_lectures_neuron(capsys):
    from chainrule.cli import main

    assert main(["compile-source", "1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))", "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"]) == 0
    out = capsys.readouterr().out
    assert "def step(w0, x0, w1, x1, w2, consts):" in out
    assert "# backward: Exp (gate 5)" in out and "v10 = np.exp(v9)" in out
    namespace: dict = {}
    exec(compile(out, "neuron.py", "exec"), namespace)
    f, *grads = namespace["step"](*[np.float64(v) for v in (2, -1, -3, -2, -3)], (np.float64(1.0),))
    assert round(float(f), 2) == 0.73  # the lecture's numbers
    assert [round(float(g), 2) for g in grads] == [-0.2, 0.39, -0.39, -0.59, 0.2]


def test_the_ntm_copy_step_compiled_equals_eager():
    from chainrule.tasks import sequence as seq

    def run(compiled: bool) -> tuple[list, dict]:
        cr.manual_seed(0)
        model = seq.build("ntm")
        opt = cr.optim.Adam(model.parameters(), lr=1e-3)

        def step(x, y):
            opt.zero_grad()
            logits = model(cr.Tensor(x))[-y.shape[0]:]  # the answer steps
            loss = F.binary_cross_entropy_with_logits(logits, cr.Tensor(y))
            loss.backward()
            opt.step()
            return loss

        f = cr.compile(step) if compiled else step
        g = np.random.default_rng(0)
        losses = [f(*seq.copy_batch(2, 5, generator=g)).item() for _ in range(4)]
        return losses, {k: v.copy() for k, v in model.state_dict().items()}

    (eager, state), (compiled, c_state) = run(False), run(True)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    for k in state:
        np.testing.assert_allclose(c_state[k], state[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_a_step_that_traces_at_every_call_says_why(caplog):
    w = cr.Tensor([1.0], requires_grad=True, name="w")

    @cr.compile
    def step(x):
        w.grad = None  # by hand, not zero_grad(): the trace cannot see it, so every call traces
        (w * cr.Tensor(x)).sum().backward()
        return w.grad

    with caplog.at_level("WARNING", logger="chainrule.compile"):
        for _ in range(6):
            assert step(np.ones(1, np.float32)).item() == 1.0
    assert step.traces_made == 6
    assert "traced again for the same argument shapes (4 times): whether w has a gradient" in caplog.text


def test_a_cnn_training_step_compiled_equals_eager(monkeypatch):
    from chainrule.ops.window import Convolution

    monkeypatch.setattr(Convolution, "CHUNK", 4096)  # several batch slices per convolution, as on large inputs
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3, 12, 12)).astype(np.float32), rng.integers(0, 4, 8)

    def run(compiled: bool) -> tuple[list, dict]:
        cr.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, stride=2),
                            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 4))  # fmt: skip
        opt = cr.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        step = classifier_step(net, opt)
        f = cr.compile(step) if compiled else step
        return [f(x, y).item() for _ in range(4)], {k: v.copy() for k, v in net.state_dict().items()}

    (eager, state), (compiled, c_state) = run(False), run(True)
    np.testing.assert_allclose(compiled, eager, rtol=1e-5)
    for k in state:
        np.testing.assert_allclose(c_state[k], state[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_arrays_a_function_returns_in_a_list_are_traced():
    f = cr.compile(lambda x: cr.Tensor(np.split(x, 1)[0] * 2))  # np.split: a list of one view
    for v in (1.0, 3.0):
        assert f(np.full(2, v, np.float32)).numpy().tolist() == [2 * v, 2 * v]
    assert f.traces_made == 1 and ", = np.split(" in f.source()


def test_a_mean_replays_as_a_sum_over_the_count_with_numpys_bits():
    """The generated step writes a float mean as np.add.reduce(...) / n (NumPy's mean without
    its Python layer): the same bits as eager, in single and double precision and in half
    precision (left as a mean: NumPy sums halves in single)."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64, np.float16):
        x = (rng.standard_normal((3, 7, 33)) * 100).astype(dtype)
        ln = nn.LayerNorm(33).to(dtype=cr.float32 if dtype == np.float16 else dtype)

        def step(x):
            return ln(cr.Tensor(x).mean(dim=0, keepdim=True) + x.mean(axis=(1, 2)).reshape(3, 1, 1))

        compiled = cr.compile(step)
        eager = step(x).numpy()
        assert np.array_equal(compiled(x).numpy(), eager) and np.array_equal(compiled(x).numpy(), eager)
        source = compiled.source()
        if dtype == np.float16:
            assert ".mean(axis=(1, 2))" in source, source
        else:
            assert "np.add.reduce(" in source and ".mean(" not in source, source


def test_a_dropped_trace_takes_its_lines_out_of_linecache():
    """Tracebacks show a replay's generated lines (linecache holds them); a trace the cache
    drops takes them along, so a step traced for many shapes does not keep every text."""
    import gc
    import linecache

    def step(x):
        return (cr.Tensor(x) * 2).sum()

    compiled = cr.compile(step, max_traces=1)
    for n in range(2, 7):
        compiled(np.ones(n, np.float32))
    gc.collect()
    mine = [k for k in linecache.cache if k.startswith(f"<chainrule.compile:step:{id(compiled):x}:")]
    assert len(mine) == 1, mine  # the one trace kept
    del compiled
    gc.collect()
    assert not [k for k in linecache.cache if k in mine]
