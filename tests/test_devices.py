"""The device API: names, moves, errors; training, optimizers and checkpoints on each device.

The CuPy half of each parametrized test runs where a GPU is; on a machine without one it is
skipped with the reason, and the NumPy half still checks the whole path (moves, the state that
follows the parameters, checkpoints read onto a device).
"""

from __future__ import annotations

import numpy as np
import pytest
import strict
from oracle import REAL_DEVICES as DEVICES
from oracle import _gpu_like, _gpu_reason, move_module

import chainrule as cr
from chainrule import devices, nn, optim

needs_gpu = pytest.mark.skipif(bool(_gpu_reason()), reason=_gpu_reason() or "-")
without_gpu = pytest.mark.skipif(not _gpu_reason(), reason="this machine has a GPU: the no-GPU errors cannot happen")


# -- names -----------------------------------------------------------------------------


@pytest.mark.parametrize("spec,kind,index", [("cpu", "cpu", None), ("cuda", "cuda", None), ("cuda:0", "cuda", 0),
                                              (" cuda:12 ", "cuda", 12), (cr.Device("cuda", 3), "cuda", 3)])  # fmt: skip
def test_device_names_parse(spec, kind, index):
    d = cr.device(spec)
    assert (d.type, d.index) == (kind, index)
    assert d == cr.device(str(d)) and hash(d) == hash(cr.device(str(d)))


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:-1", "cpu:1", "CUDA", 0, None])
def test_bad_device_names_are_refused_naming_them(spec):
    with pytest.raises(ValueError, match="device: .*expected 'cpu', 'cuda' or 'cuda:K'"):
        cr.device(spec)


def test_devices_compare_with_their_names():
    assert cr.Tensor([1.0]).device == "cpu"
    assert cr.device("cuda:0") != "cuda" and cr.device("cuda:0") != "cuda:1" and cr.device("cpu") != "nonsense"


@pytest.mark.parametrize("device,dtype,want", [("float64", None, (None, np.float64)), ("cpu", None, ("cpu", None)),
                                               ("cuda:1", "float32", ("cuda:1", np.float32))])  # fmt: skip
def test_to_takes_a_device_a_dtype_or_both(device, dtype, want):
    d, t = devices.to_arguments(device, dtype, "to")
    assert (None if d is None else str(d), t) == want


@pytest.mark.parametrize("args,words", [(("gpu",), "'gpu' is not a device; expected .*or a dtype"),
                                        (("gpu", "float64"), "'gpu' is not a device; expected 'cpu', 'cuda' or 'cuda:K'$"),
                                        (("cpu", "floaty"), "'floaty' is not a dtype")])  # fmt: skip
def test_to_names_what_it_could_not_read(args, words):
    with pytest.raises(ValueError, match="to: " + words):
        cr.Tensor([1.0]).to(*args)


# -- moves on the CPU ------------------------------------------------------------------


def test_a_tensor_already_there_comes_back_as_it_is():
    x = cr.Tensor([1.0, 2.0], requires_grad=True)
    assert x.to("cpu") is x and x.cpu() is x and x.to("cpu", "float32") is x
    y = x.to("cpu", "float64")
    assert y.dtype == np.float64 and y.op == "Cast"


def test_tensor_makes_its_data_on_the_device_asked():
    t = cr.tensor([[1, 2]], dtype="float64", requires_grad=True, device="cpu", name="t")
    assert t.device == "cpu" and t.dtype == np.float64 and t.requires_grad and t.name == "t" and t.is_leaf
    with pytest.raises(TypeError, match="requires_grad=True needs floating-point data"):
        cr.tensor([1, 2], requires_grad=True)


def test_mixed_device_error_names_both_devices_and_inputs(monkeypatch):
    assert devices.mismatch("Add", [np.ones(2), 3.0, np.ones(2)]) is None

    class Elsewhere:  # stands for a GPU array: only the place that device_of reads off it matters here
        shape, dtype, ndim = (2,), np.dtype("float32"), 1

    monkeypatch.setattr(devices, "device_of", lambda a: cr.device("cuda:1") if isinstance(a, Elsewhere) else devices.CPU)
    monkeypatch.setattr(cr.backend, "is_array", lambda a: isinstance(a, (np.ndarray, Elsewhere)))
    assert devices.mismatch("Mul", [np.ones(2), Elsewhere()]) == (
        "Mul: inputs are on different devices, cpu (input 0) and cuda:1 (input 1); "
        "expected one device: move them with .to(device) first")


@without_gpu
def test_without_cupy_or_a_gpu_a_move_says_what_is_missing_and_changes_nothing():
    net = nn.Linear(2, 3)
    before = net.weight.data
    for call in (lambda: net.cuda(), lambda: net.to("cuda:0"), lambda: cr.Tensor([1.0]).cuda(),
                 lambda: cr.tensor([1.0], device="cuda"), lambda: cr.load("never-read.safetensors", device="cuda")):  # fmt: skip
        with pytest.raises(RuntimeError, match="device 'cuda(:0)?' (needs CuPy|asked for, but CuPy sees 0 GPU)"):
            call()
    assert net.weight.data is before and net.weight.device == "cpu"


# -- on each device ----------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_gradients_flow_back_across_a_move(device):
    x = cr.Tensor([1.0, -2.0, 3.0], requires_grad=True, dtype="float64")
    y = x.to(device)
    assert y.device.type == device
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -4.0, 6.0])
    # and the way back is a gate of its own: gradients of gradients cross too
    x.grad = None
    (g,) = cr.grad((x.to(device) ** 3).sum(), [x], create_graph=True)
    (gg,) = cr.grad(g.sum(), [x])
    np.testing.assert_allclose(gg.numpy(), 6 * x.numpy())


def _net() -> nn.Module:
    cr.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 8), nn.Dropout(0.2), nn.ReLU(), nn.Linear(8, 3)).double()  # fmt: skip


def _step(net: nn.Module, opt: optim.Optimizer):
    """The training step the tests here take: cross-entropy, backward, clipping, an update."""

    def step(x, y):
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm(net, 5.0)
        opt.step()
        return loss

    return step


def _to_stand_in(net: nn.Module) -> None:
    """The module's buffers and parameters as arrays of the GPU's stand-in (tests/strict.py)."""
    move_module(net, "strict")
    for p in net.parameters():
        p._data = strict.device_array(p._data)


def _train(net: nn.Module, opt: optim.Optimizer, device: str, steps: int, compiled: bool = False) -> list[float]:
    step = _step(net, opt)
    run = cr.compile(step) if compiled else step
    g = np.random.default_rng(1)
    losses = []
    for _ in range(steps):
        x = cr.tensor(g.standard_normal((5, 1, 6, 6)), dtype="float64", device=device)
        y = cr.tensor(g.integers(0, 3, 5), dtype="int64", device=device)
        losses.append(float(run(x, y).item()))
    return losses


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9), lambda p: optim.Adam(p, lr=0.01),
                                  lambda p: optim.RMSProp(p, lr=0.01), lambda p: optim.AdaGrad(p, lr=0.1)],
                         ids=["SGD-momentum", "Adam", "RMSProp", "AdaGrad"])  # fmt: skip
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_training_on_a_device_takes_the_cpus_steps(make, device, compiled):
    ref = _net().eval()  # eval: dropout off, so both runs see the same function
    ref_losses = _train(ref, make(ref), "cpu", 4)
    net = _net().eval().to(device)
    opt = make(net)
    losses = _train(net, opt, device, 4, compiled)  # compiled: two traces (the state is new), two replays
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-9)
    for (name, p), q in zip(net.named_parameters(), ref.parameters()):
        assert p.device.type == device and p.grad.device.type == device, name
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    for state in opt.state.values():
        assert all(cr.backend.array_module(v) is cr.backend.array_module(net[0].weight.data)
                   for v in state.values() if hasattr(v, "shape"))  # fmt: skip


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
                                  lambda p: optim.Adam(p, lr=0.01), lambda p: optim.AdamW(p, lr=0.01),
                                  lambda p: optim.RMSProp(p, lr=0.01), lambda p: optim.AdaGrad(p, lr=0.1)],
                         ids=["SGD-nesterov", "Adam", "AdamW", "RMSProp", "AdaGrad"])  # fmt: skip
def test_a_training_step_on_the_gpu_stand_in_waits_once_and_takes_the_cpus_step(make):
    # strict arrays keep CuPy's rules on the CPU (tests/strict.py): no host array may meet them,
    # and each read of a value into Python is counted as a wait for the GPU would be
    ref = _net().eval()
    ref_losses = _train(ref, make(ref), "cpu", 3)
    net = _net().eval()
    _to_stand_in(net)
    opt = make(net)
    g = np.random.default_rng(1)
    losses = []
    with _gpu_like("strict"):
        for _ in range(3):
            x = cr.Tensor(strict.device_array(g.standard_normal((5, 1, 6, 6))), dtype="float64")
            y = cr.Tensor(strict.device_array(g.integers(0, 3, 5)))
            before = strict.syncs()
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            norm = optim.clip_grad_norm(net, 5.0)
            opt.step()
            assert strict.syncs() - before == 1, "one wait per step: the check of the labels"
            assert type(norm.data) is strict.StrictArray  # the norm (a 0-d Tensor) stays on the device
            losses.append(loss.item())
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-9)
    for p, q in zip(net.parameters(), ref.parameters()):
        assert type(p.data) is strict.StrictArray and type(p.grad.data) is strict.StrictArray
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-9, atol=1e-12)
    assert all(type(v) is strict.StrictArray for s in opt.state.values() for v in s.values() if hasattr(v, "shape"))


@pytest.mark.parametrize("device", DEVICES)
def test_optimizer_state_follows_its_parameters_when_the_model_moves(device):
    net = _net().eval()
    opt = optim.Adam(net, lr=0.01)
    _train(net, opt, "cpu", 2)  # the state is made on the CPU
    net.to(device)
    _train(net, opt, device, 2)  # ... and moved over at the next step
    assert all(devices.device_of(v).type == device for s in opt.state.values() for v in s.values() if hasattr(v, "shape"))
    net.cpu()
    _train(net, opt, "cpu", 1)  # ... and back
    assert all(devices.device_of(v) == "cpu" for s in opt.state.values() for v in s.values() if hasattr(v, "shape"))


@pytest.mark.parametrize("saved_on,loaded_on", [("cpu", "cpu"), pytest.param("cuda", "cpu", marks=needs_gpu),
                                                pytest.param("cpu", "cuda", marks=needs_gpu)])  # fmt: skip
def test_a_checkpoint_loads_onto_either_device(tmp_path, saved_on, loaded_on):
    net = _net().to(saved_on)
    opt = optim.Adam(net, lr=0.01)
    _train(net, opt, saved_on, 2)
    path = tmp_path / "run.ckpt"
    cr.save_checkpoint(path, net, opt, epoch=3)
    # a fresh model and optimizer on the other device, restored: the next steps are the same
    other = _net().to(loaded_on)
    other_opt = optim.Adam(other, lr=0.01)
    assert cr.load_checkpoint(path, other, other_opt)["epoch"] == 3
    assert all(p.device.type == loaded_on for p in other.parameters())
    assert all(devices.device_of(b).type == loaded_on for _, b in other.named_buffers())
    assert all(devices.device_of(v).type == loaded_on for s in other_opt.state.values() for v in s.values() if hasattr(v, "shape"))
    net.eval(), other.eval()
    np.testing.assert_allclose(_train(other, other_opt, loaded_on, 2), _train(net, opt, saved_on, 2), rtol=1e-9)
    weights = tmp_path / "w.safetensors"
    cr.save(net, weights)
    arrays = cr.load(weights, device=loaded_on)
    assert all(devices.device_of(a).type == loaded_on for a in arrays.values())
    np.testing.assert_array_equal(cr.backend.to_numpy(arrays["0.weight"]), net[0].weight.numpy())


@pytest.mark.parametrize("device", DEVICES)
def test_a_seeded_dropout_repeats_on_its_device(device):
    x = cr.tensor(np.ones((4, 50)), device=device)
    cr.manual_seed(5)
    a = nn.functional.dropout(x, 0.5)
    cr.manual_seed(5)
    b = nn.functional.dropout(x, 0.5)
    assert a.device.type == device
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert set(np.unique(a.numpy())) == {0.0, 2.0}


@needs_gpu
def test_inputs_on_two_devices_are_an_error_naming_both():
    a = cr.Tensor([1.0, 2.0]).cuda()
    for f in (lambda: a + cr.Tensor([1.0, 2.0]), lambda: cr.Tensor([1.0, 2.0]) * a, lambda: a @ cr.Tensor([1.0, 2.0])):
        with pytest.raises(ValueError, match=r"inputs are on different devices, (cpu|cuda:0) \(input 0\) and (cpu|cuda:0)"):
            f()
    with pytest.raises(ValueError, match="the gradient is on cpu but the output is on cuda:0"):
        (a * 2).backward(np.ones(2, np.float32))
    assert "device='cuda:0'" in repr(a)


def test_the_gpu_benchmark_runs_on_the_cpu_at_small_sizes():
    # bench/bench_gpu.py is timed on a GPU (make gpu-check); here its code runs end to end
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "bench" / "bench_gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.run("cpu", quick=True, rounds=1, steps=2, libs=("chainrule", "compiled", "PyTorch", "by hand"))
    assert [r["kind"] for r in rows] == ["mlp", "cnn", "chain"]
    for r in rows:
        assert set(r["ms"]) == ({"chainrule", "compiled", "PyTorch"} | ({"by hand"} if r["kind"] != "cnn" else set()))
        assert all(ms > 0 for ms in r["ms"].values()) and r["ratio"] > 0 and r["compiled_ratio"] > 0


def test_the_ntm_runs_on_the_gpu_stand_in_without_waiting():
    # its starting state (memory, focus, reads, controller) is made on the parameters' device
    from chainrule.tasks import sequence as seq

    def loss_and_grads(where: str):
        model = seq.build("ntm", bits=4)
        x, y = seq.copy_batch(2, 3, bits=4, generator=np.random.default_rng(0))
        if where == "strict":
            _to_stand_in(model)
            x, y = strict.device_array(x), strict.device_array(y)
        before = strict.syncs()
        logits = model(cr.Tensor(x))[-y.shape[0]:]
        loss = nn.functional.binary_cross_entropy_with_logits(logits, cr.Tensor(y))
        loss.backward()
        assert strict.syncs() == before, "the NTM's step read a value back to the host"
        return loss.item(), [p.grad.numpy() for p in model.parameters()]

    with _gpu_like("strict"):
        (want, want_grads), (got, got_grads) = loss_and_grads("cpu"), loss_and_grads("strict")
    assert got == want
    for g, h in zip(got_grads, want_grads):
        np.testing.assert_array_equal(g, h)


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1, momentum=0.9), lambda p: optim.Adam(p, lr=0.01)],
                         ids=["SGD-momentum", "Adam"])  # fmt: skip
def test_a_compiled_step_replays_on_the_gpu_stand_in(make):
    # traced on host copies, replayed on the device's arrays: the same numbers as the eager CPU
    # step, one trace, and per replay one wait (the label check) and no host array met
    g = np.random.default_rng(1)
    batches = [(g.standard_normal((5, 1, 6, 6)), g.integers(0, 3, 5)) for _ in range(5)]
    ref = _net().eval()
    ref_step = _step(ref, make(ref))
    want = [ref_step(cr.Tensor(x, dtype="float64"), cr.Tensor(y)).item() for x, y in batches]
    net = _net().eval()
    _to_stand_in(net)
    opt = make(net)
    step = cr.compile(_step(net, opt))
    got = []
    for i, (x, y) in enumerate(batches):
        x, y = cr.Tensor(strict.device_array(x), dtype="float64"), cr.Tensor(strict.device_array(y))
        before = strict.syncs()
        loss = step(x, y)
        if i >= 2:  # a trace copies the state to the host (the second: the optimizer's state is new)
            assert strict.syncs() - before == 1, "one wait per replay: the check of the labels"
        assert type(loss.data) is strict.StrictArray
        got.append(loss.item())
    assert step.traces_made == 2  # as on the CPU: the first step makes the optimizer's state
    np.testing.assert_allclose(got, want, rtol=1e-9)
    for p, q in zip(net.parameters(), ref.parameters()):
        assert type(p.data) is strict.StrictArray and type(p.grad.data) is strict.StrictArray
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-9, atol=1e-12)
    assert all(type(v) is strict.StrictArray for s in opt.state.values() for v in s.values() if hasattr(v, "shape"))


def test_a_compiled_ntm_step_replays_on_the_gpu_stand_in():
    # the NTM's whole training step (addressing, memory writes, LSTM controller, Adam, clipping)
    # compiled on host copies and replayed on the stand-in: the eager CPU step's numbers
    from chainrule.tasks import sequence as seq

    def make():
        model = seq.build("ntm", bits=4)
        opt = optim.Adam(model.parameters(), lr=1e-3)

        def step(x, y):
            logits = model(x)[-y.shape[0]:]
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y)
            opt.zero_grad()
            loss.backward()
            optim.clip_grad_norm(model.parameters(), 1.0)
            opt.step()
            return loss

        return model, opt, step

    g = np.random.default_rng(0)
    batches = [seq.copy_batch(2, 3, bits=4, generator=g) for _ in range(4)]
    _, _, eager = make()
    want = [eager(cr.Tensor(x), cr.Tensor(y)).item() for x, y in batches]
    model, opt, step = make()
    _to_stand_in(model)
    step = cr.compile(step)
    got = []
    with _gpu_like("strict"):
        for i, (x, y) in enumerate(batches):
            before = strict.syncs()
            loss = step(cr.Tensor(strict.device_array(x)), cr.Tensor(strict.device_array(y)))
            if i >= 2:
                assert strict.syncs() == before, "a replay of the NTM's step read a value back"
            got.append(loss.item())
    assert step.traces_made == 2
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert all(type(p.data) is strict.StrictArray for p in model.parameters())


def test_a_host_array_beside_a_device_output_is_refused_by_the_engines_check():
    # check_same: what the engine asks after a GPU op returned (CuPy may copy a host array in
    # without a word); labels, indices and 0-d scalars may stay on the host
    out, a = strict.device_array(np.ones(3)), strict.device_array(np.ones(3))
    devices.check_same("Mul", out, [a, 2.0, np.float32(2), np.ones((), np.float32), np.arange(3)])
    with pytest.raises(ValueError, match="Mul: inputs are on different devices"):
        devices.check_same("Mul", out, [a, np.ones(3)])


@pytest.mark.parametrize("fuse", [None, False], ids=["fused", "unfused"])
def test_a_compiled_chain_on_the_gpu_stand_in_runs_its_elementwise_runs_as_one_function(fuse):
    # on a GPU each such function is fused by cupy.fuse into one kernel; on the stand-in it runs
    # as the same array calls, so its numbers are the eager step's exactly
    def chain(x):
        out = x
        for _ in range(30):
            out = (out * 1.0001 + 0.0001).tanh()
        loss = out.sum()
        loss.backward()
        g = x.grad
        x.grad = None
        return loss, g

    values = np.linspace(-1, 1, 12).astype(np.float32)
    want_loss, want_grad = chain(cr.Tensor(values, requires_grad=True))
    x = cr.Tensor(strict.device_array(values), requires_grad=True)
    step = cr.compile(chain, fuse=fuse)
    for i in range(3):
        before = strict.syncs()
        loss, g = step(x)
        assert type(g.data) is strict.StrictArray
        assert i == 0 or strict.syncs() == before  # (the trace reads the arrays to the host once)
    assert step.traces_made == 1
    assert loss.item() == want_loss.item()
    np.testing.assert_array_equal(g.numpy(), want_grad.numpy())
    calls = step.source(fused=True).count(" = k")
    assert (calls >= 2) if fuse is None else calls == 0  # the forward's run and the backward's
    if fuse is None:
        assert "fused by cupy.fuse on a GPU" in step.source(fused=True)


def test_distributed_training_refuses_a_model_on_a_gpu_by_name(monkeypatch):
    # its gradient buckets are host arrays: a GPU model is an error before anything is sent
    from chainrule import distributed

    net = _net()
    elsewhere = net[0].weight
    monkeypatch.setattr(type(elsewhere), "device", property(lambda t: cr.device("cuda:0") if t is elsewhere else devices.CPU))
    with pytest.raises(ValueError, match=r"DistributedDataParallel: parameter 0.weight is on cuda:0; expected the model on the CPU"):
        distributed.DistributedDataParallel(net)
