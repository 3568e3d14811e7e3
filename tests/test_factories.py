"""chainrule.factories against PyTorch: dtype rules of every factory, shapes, the values of the
deterministic ones, memory sharing, one seeded stream for every random one (repeatable, and the
same numbers on every device), the statistics of multinomial, devices and errors."""

from __future__ import annotations

import numpy as np
import pytest
import strict
import torch
from oracle import DEVICES, REAL_DEVICES

import chainrule as cr
import chainrule.factories as fac
from chainrule import devices


def name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


F32 = np.ones(2, dtype=np.float32)
F64 = np.ones((2, 3))
I64 = np.arange(4)
PROBS = np.array([0.2, 0.5, 0.3])

# (id, our call, torch's call): the result dtypes must have the same name
DTYPE_CASES = [
    ("tensor-int", lambda m: m.tensor([1, 2]), None),
    ("tensor-float", lambda m: m.tensor([1.0, 2]), None),
    ("tensor-bool", lambda m: m.tensor([True, False]), None),
    ("tensor-bool-int", lambda m: m.tensor([True, 2]), None),
    ("tensor-complex", lambda m: m.tensor(1j), None),
    ("tensor-np-float64", lambda m: m.tensor(np.ones(2)), None),
    ("tensor-np-int32", lambda m: m.tensor(np.arange(2, dtype=np.int32)), None),
    ("tensor-np-scalar", lambda m: m.tensor(np.float64(1.5)), None),
    ("tensor-dtype", lambda m: m.tensor([1, 2], dtype=m.float64), None),
    ("as_tensor-int", lambda m: m.as_tensor([1, 2]), None),
    ("as_tensor-np-float64", lambda m: m.as_tensor(np.ones(2)), None),
    ("as_tensor-dtype", lambda m: m.as_tensor(np.ones(2), dtype=m.float32), None),
    ("from_numpy-float64", lambda m: m.from_numpy(np.ones(2)), None),
    ("from_numpy-int32", lambda m: m.from_numpy(np.arange(2, dtype=np.int32)), None),
    ("from_numpy-bool", lambda m: m.from_numpy(np.ones(2, dtype=bool)), None),
    ("zeros", lambda m: m.zeros(2, 3), None),
    ("zeros-int", lambda m: m.zeros(2, dtype=m.int64), None),
    ("ones", lambda m: m.ones((2,)), None),
    ("ones-float64", lambda m: m.ones(2, dtype=m.float64), None),
    ("empty", lambda m: m.empty([2, 2]), None),
    ("full-int", lambda m: m.full((2,), 7), None),
    ("full-float", lambda m: m.full((2,), 0.5), None),
    ("full-bool", lambda m: m.full((2,), True), None),
    ("full-np-float64", lambda m: m.full((2,), np.float64(1.0)), None),
    ("full-dtype", lambda m: m.full((2,), 1, dtype=m.float64), None),
    ("eye", lambda m: m.eye(3), None),
    ("eye-int", lambda m: m.eye(2, 3, dtype=m.int64), None),
    ("arange-int", lambda m: m.arange(5), None),
    ("arange-np-int", lambda m: m.arange(np.int32(5)), None),
    ("arange-float-start", lambda m: m.arange(0.5, 3), None),
    ("arange-float-step", lambda m: m.arange(0, 1, 0.25), None),
    ("arange-dtype", lambda m: m.arange(3, dtype=m.float64), None),
    ("linspace", lambda m: m.linspace(0, 1, 5), None),
    ("linspace-int", lambda m: m.linspace(0, 10, 5, dtype=m.int64), None),
    ("logspace", lambda m: m.logspace(0, 2, 3), None),
    ("rand", lambda m: m.rand(2), None),
    ("rand-float64", lambda m: m.rand(2, dtype=m.float64), None),
    ("randn", lambda m: m.randn(2, 2), None),
    ("randint", lambda m: m.randint(0, 5, (3,)), None),
    ("randint-float", lambda m: m.randint(5, (3,), dtype=m.float32), None),
    ("randperm", lambda m: m.randperm(4), None),
    ("randperm-float", lambda m: m.randperm(4, dtype=m.float32), None),
    ("normal-numbers", lambda m: m.normal(0.0, 1.0, (3,)), None),
    ("normal-tensor", lambda m: m.normal(m.tensor(np.zeros(2)), 1.0), None),
    ("normal-both", lambda m: m.normal(m.tensor(np.zeros(2)), m.tensor(F32)), None),
    ("bernoulli", lambda m: m.bernoulli(m.tensor(np.array([0.5, 0.5]))), None),
    ("bernoulli-p", lambda m: m.bernoulli(m.tensor(F32), 0.3), None),
    ("multinomial", lambda m: m.multinomial(m.tensor(PROBS), 2), None),
]
for like in ("zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"):
    DTYPE_CASES += [(f"{like}-float64", lambda m, f=like: getattr(m, f)(m.tensor(F64)), None),
                    (f"{like}-dtype", lambda m, f=like: getattr(m, f)(m.tensor(F64), dtype=m.float32), None)]
for like in ("zeros_like", "ones_like", "empty_like"):
    DTYPE_CASES.append((f"{like}-int", lambda m, f=like: getattr(m, f)(m.tensor(I64)), None))
DTYPE_CASES += [("full_like-int", lambda m: m.full_like(m.tensor(I64), 2.5), None),
                ("full_like-float32", lambda m: m.full_like(m.tensor(F32), 2), None),
                ("randint_like-int", lambda m: m.randint_like(m.tensor(I64), 5), None),
                ("randint_like-float", lambda m: m.randint_like(m.tensor(F64), 2, 5), None)]


class _Ours:
    """chainrule.factories, with the dtype names a call needs, so one lambda serves both."""

    def __getattr__(self, attr):
        return getattr(fac, attr, None) or getattr(cr, attr)


@pytest.mark.parametrize("call", [pytest.param(c[1], id=c[0]) for c in DTYPE_CASES])
def test_dtypes_follow_pytorch(call):
    got, want = call(_Ours()), call(torch)
    assert isinstance(got, cr.Tensor)
    assert name(got.dtype) == name(want.dtype)
    assert got.shape == tuple(want.shape)
    assert got.is_leaf and not got.requires_grad


@pytest.mark.parametrize("size", [(2, 3), ((2, 3),), ([2, 3],), (torch.Size([2, 3]),), (np.int64(2), 3)])
@pytest.mark.parametrize("factory", ["zeros", "ones", "empty", "rand", "randn"])
def test_sizes_come_both_ways(factory, size):
    assert getattr(fac, factory)(*size).shape == (2, 3)


@pytest.mark.parametrize("factory", ["zeros", "ones", "empty", "rand", "randn"])
def test_empty_and_zero_dim_sizes(factory):
    assert getattr(fac, factory)().shape == () and getattr(fac, factory)(()).shape == ()
    assert getattr(fac, factory)(0, 3).shape == (0, 3)


# -- the values of the deterministic factories --------------------------------------------------

VALUE_CASES = [
    ("arange", (5,)), ("arange", (2, 9, 3)), ("arange", (0, 1, 0.1)), ("arange", (1, 0, -0.1)),
    ("arange", (5, 0, -1.5)), ("arange", (-3.5, 2.25, 0.75)), ("arange", (10, 0, -3)), ("arange", (3, 3)),
    ("arange", (0.0, 1e-3, 1e-4)), ("linspace", (0, 1, 5)), ("linspace", (-2.5, 7.1, 11)), ("linspace", (3, -3, 7)),
    ("linspace", (1, 2, 1)), ("linspace", (1, 2, 0)), ("linspace", (0, 1, 100)), ("logspace", (0, 2, 3)),
    ("logspace", (-1, 1, 7)), ("logspace", (0, 3, 4, 2.0)), ("eye", (3,)), ("eye", (2, 4)), ("eye", (0,)),
    ("full", ((2, 3), 1.5)), ("full", ((2,), -4)), ("full", ((), 2.0)),
]  # fmt: skip


@pytest.mark.parametrize("factory,args", [pytest.param(f, a, id=f"{f}{a}") for f, a in VALUE_CASES])
@pytest.mark.parametrize("dtype", [None, "float64"])
def test_deterministic_values_match_torch(factory, args, dtype):
    kw = {} if dtype is None else {"dtype": dtype}
    got = getattr(fac, factory)(*args, **kw)
    want = getattr(torch, factory)(*args, **({} if dtype is None else {"dtype": getattr(torch, dtype)}))
    assert name(got.dtype) == name(want.dtype) and got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6 if got.dtype == cr.float32 else 1e-12, atol=1e-7)


def test_like_factories_keep_shape_and_values():
    x = fac.tensor(np.arange(6, dtype=np.float64).reshape(2, 3))
    assert fac.zeros_like(x).tolist() == [[0.0] * 3] * 2 and fac.ones_like(x).tolist() == [[1.0] * 3] * 2
    assert fac.full_like(x, 7).tolist() == [[7.0] * 3] * 2 and fac.empty_like(x).shape == (2, 3)
    assert fac.full_like(fac.tensor([1, 2]), 2.7).tolist() == [2, 2]  # the value cast to the input's int64


def test_tensor_copies_and_as_tensor_and_from_numpy_share_memory():
    a = np.zeros(3)
    t, s, f = fac.tensor(a), fac.as_tensor(a), fac.from_numpy(a)
    a[0] = 5.0  # a write through NumPy
    assert t.tolist() == [0.0, 0.0, 0.0]
    assert s.tolist() == [5.0, 0.0, 0.0] and f.tolist() == [5.0, 0.0, 0.0]
    f.data[1] = 3.0  # and through the Tensor
    assert a[1] == 3.0
    converted = fac.as_tensor(a, dtype="float32")  # a conversion is needed: a copy
    a[2] = 1.0
    assert converted.tolist() == [5.0, 3.0, 0.0]
    x = cr.Tensor([1.0, 2.0], requires_grad=True)
    assert fac.as_tensor(x) is x and fac.as_tensor(x, dtype=cr.float32, device="cpu") is x
    y = fac.tensor(x)  # a copy, cut from the graph, keeping the dtype
    assert not y.requires_grad and y.is_leaf and y.dtype == cr.float32 and y.data is not x.data


def test_tensor_takes_requires_grad_and_device():
    t = fac.tensor([1.0, 2.0], requires_grad=True, device="cpu")
    assert t.requires_grad and t.is_leaf and t.device == "cpu"
    named = fac.tensor([[1, 2]], dtype="float64", requires_grad=True, device="cpu", name="t")  # cr.tensor's keywords
    assert named.name == "t" and named.dtype == cr.float64 and named.requires_grad
    with pytest.raises(TypeError):
        fac.tensor([1.0], cr.float64)  # keywords only, as PyTorch's
    (t * t).sum().backward()
    assert t.grad.tolist() == [2.0, 4.0]


# -- one seeded stream ---------------------------------------------------------------------------

RANDOM = [
    ("rand", lambda: fac.rand(3, 4)),
    ("randn", lambda: fac.randn(3, 4, dtype=cr.float64)),
    ("randint", lambda: fac.randint(-5, 5, (20,))),
    ("randperm", lambda: fac.randperm(20)),
    ("normal", lambda: fac.normal(1.0, 2.0, (5,))),
    ("normal-tensor", lambda: fac.normal(fac.zeros(5), fac.ones(5))),
    ("bernoulli", lambda: fac.bernoulli(fac.full((30,), 0.5))),
    ("multinomial", lambda: fac.multinomial(fac.tensor([0.1, 0.2, 0.7]), 20, replacement=True)),
    ("multinomial-distinct", lambda: fac.multinomial(fac.ones(2, 10), 10)),
    ("rand_like", lambda: fac.rand_like(fac.zeros(4))),
    ("randn_like", lambda: fac.randn_like(fac.zeros(4))),
    ("randint_like", lambda: fac.randint_like(fac.zeros(10), 100)),
]


@pytest.mark.parametrize("draw", [pytest.param(d, id=i) for i, d in RANDOM])
def test_manual_seed_repeats_every_random_factory(draw):
    cr.manual_seed(123)
    a = draw()
    cr.manual_seed(123)
    b = draw()
    c = draw()
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(b.numpy(), c.numpy())  # the stream moved on


def test_all_factories_share_one_stream():
    cr.manual_seed(9)
    first = fac.randn(2).tolist()
    for other in (lambda: fac.rand(3), lambda: fac.randint(10, (3,)), lambda: fac.randperm(4),
                  lambda: fac.multinomial(fac.ones(3), 2), lambda: fac.bernoulli(fac.ones(2) / 2)):  # fmt: skip
        cr.manual_seed(9)
        other()  # another factory drew first: the next draw differs
        assert fac.randn(2).tolist() != first
    cr.manual_seed(9)
    assert cr.rng.generator().standard_normal(2, dtype=np.float32).tolist() == first  # the stream of chainrule.rng


def test_rand_is_uniform_in_zero_one_and_randn_standard():
    cr.manual_seed(0)
    u = fac.rand(100_000).numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    for dt in ("float16", "float64"):
        u = fac.rand(10_000, dtype=dt).numpy()
        assert u.dtype == dt and u.min() >= 0 and u.max() < 1
    z = fac.randn(100_000, dtype="float64").numpy()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    z = fac.normal(3.0, 0.5, (100_000,)).numpy()
    assert abs(z.mean() - 3) < 0.01 and abs(z.std() - 0.5) < 0.01
    n = fac.normal(fac.tensor(np.array([[-10.0], [10.0]])), fac.tensor(np.zeros(3)))
    assert n.shape == (2, 3) and n.dtype == cr.float64 and n.numpy().tolist() == [[-10.0] * 3, [10.0] * 3]


def test_randint_and_randperm():
    cr.manual_seed(1)
    x = fac.randint(3, 7, (10_000,)).numpy()
    assert set(np.unique(x)) == {3, 4, 5, 6}
    assert fac.randint(high=2, size=(4,)).shape == (4,) and fac.randint(5, size=3).shape == (3,)
    p = fac.randperm(50)
    assert p.dtype == cr.int64 and sorted(p.tolist()) == list(range(50))
    assert fac.randperm(0).shape == (0,)


def test_multinomial_frequencies_match_the_weights():
    cr.manual_seed(2)
    w = np.array([1.0, 0.0, 3.0, 6.0])  # not normalized; a category of weight 0
    draws = fac.multinomial(fac.tensor(w), 100_000, replacement=True).numpy()
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.005)
    rows = fac.multinomial(fac.tensor(np.array([[0.0, 1.0], [1.0, 0.0]])), 5, replacement=True)
    assert rows.shape == (2, 5) and rows.tolist() == [[1] * 5, [0] * 5]


def test_multinomial_without_replacement_draws_distinct_categories():
    cr.manual_seed(3)
    w = fac.tensor(np.array([[5.0, 1.0, 1.0, 1.0, 0.5], [1.0, 1.0, 1.0, 1.0, 1.0]]))
    for _ in range(50):
        d = fac.multinomial(w, 4).numpy()
        assert d.shape == (2, 4) and all(len(set(row)) == 4 for row in d)
    # the first draw follows the weights (the big one first most of the time)
    firsts = np.array([fac.multinomial(fac.tensor([5.0, 1.0, 1.0, 1.0]), 2)[0].item() for _ in range(4000)])
    assert abs((firsts == 0).mean() - 5 / 8) < 0.03
    # categories of weight 0 come last, as PyTorch's
    assert fac.multinomial(fac.tensor([0.0, 1.0, 0.0, 1.0]), 4).tolist()[:2] in ([1, 3], [3, 1])


def test_bernoulli_of_zero_and_one_probabilities():
    p = fac.tensor(np.array([[0.0, 1.0], [1.0, 0.0]]))
    for _ in range(20):
        b = fac.bernoulli(p)
        assert b.dtype == cr.float64 and b.tolist() == [[0.0, 1.0], [1.0, 0.0]]
    assert fac.bernoulli(fac.zeros(5), 1.0).tolist() == [1.0] * 5
    cr.manual_seed(4)
    assert abs(fac.bernoulli(fac.full((100_000,), 0.3)).numpy().mean() - 0.3) < 0.01


# -- devices -------------------------------------------------------------------------------------

ON_DEVICE = [
    ("tensor", lambda d: fac.tensor([1.0, 2.0], device=d)),
    ("as_tensor", lambda d: fac.as_tensor(np.ones(2), device=d)),
    ("zeros", lambda d: fac.zeros(2, device=d)),
    ("ones", lambda d: fac.ones(2, device=d)),
    ("empty", lambda d: fac.empty(2, device=d)),
    ("full", lambda d: fac.full((2,), 3.0, device=d)),
    ("eye", lambda d: fac.eye(2, device=d)),
    ("arange", lambda d: fac.arange(3, device=d)),
    ("linspace", lambda d: fac.linspace(0, 1, 3, device=d)),
    ("logspace", lambda d: fac.logspace(0, 1, 3, device=d)),
    ("zeros_like", lambda d: fac.zeros_like(fac.ones(2), device=d)),
    ("ones_like", lambda d: fac.ones_like(fac.ones(2), device=d)),
    ("empty_like", lambda d: fac.empty_like(fac.ones(2), device=d)),
    ("full_like", lambda d: fac.full_like(fac.ones(2), 2.0, device=d)),
    ("rand_like", lambda d: fac.rand_like(fac.ones(2), device=d)),
    ("randn_like", lambda d: fac.randn_like(fac.ones(2), device=d)),
    ("randint_like", lambda d: fac.randint_like(fac.ones(2), 5, device=d)),
    ("rand", lambda d: fac.rand(2, device=d)),
    ("randn", lambda d: fac.randn(2, device=d)),
    ("randint", lambda d: fac.randint(5, (2,), device=d)),
    ("randperm", lambda d: fac.randperm(5, device=d)),
    ("normal", lambda d: fac.normal(0.0, 1.0, (2,), device=d)),
]


@pytest.mark.parametrize("factory,make", [pytest.param(i, m, id=i) for i, m in ON_DEVICE])
@pytest.mark.parametrize("device", REAL_DEVICES)
def test_device_argument_and_the_same_seeded_numbers_everywhere(factory, make, device):
    cr.manual_seed(5)
    on_cpu = make("cpu")
    cr.manual_seed(5)
    there = make(device)
    assert there.device.type == device and on_cpu.device == "cpu"
    if "empty" not in factory:  # empty's values are whatever the memory held
        np.testing.assert_array_equal(there.numpy(), on_cpu.numpy())


@pytest.mark.skipif(cr.cuda_available(), reason="this machine has a GPU: the error is for machines without one")
@pytest.mark.parametrize("factory,make", [pytest.param(i, m, id=i) for i, m in ON_DEVICE])
def test_cuda_without_a_gpu_is_the_devices_modules_error_naming_the_factory(factory, make):
    cr.manual_seed(6)
    before = cr.rng.get_state()
    with pytest.raises(RuntimeError, match=rf"^{factory}: device 'cuda(:0)?' (needs CuPy|asked for, but CuPy sees 0 GPU)"):
        make("cuda")
    with pytest.raises(ValueError, match="device: 'gpu' is not a device"):
        make("gpu")
    assert cr.rng.get_state() == before  # refused before drawing


LIKE_ON_DEVICE = [
    ("zeros_like", lambda x: fac.zeros_like(x)), ("ones_like", lambda x: fac.ones_like(x)),
    ("full_like", lambda x: fac.full_like(x, 2.5)), ("empty_like", lambda x: fac.empty_like(x)),
    ("rand_like", lambda x: fac.rand_like(x)), ("randn_like", lambda x: fac.randn_like(x)),
    ("randint_like", lambda x: fac.randint_like(x, 9)), ("bernoulli", lambda x: fac.bernoulli(x * 0 + 0.5)),
    ("multinomial", lambda x: fac.multinomial(x * 0 + 1, 3)), ("normal", lambda x: fac.normal(x, 2.0)),
    ("normal-std", lambda x: fac.normal(1.0, x * 0 + 1)),
]  # fmt: skip


@pytest.mark.parametrize("factory,make", [pytest.param(i, m, id=i) for i, m in LIKE_ON_DEVICE])
@pytest.mark.parametrize("device", DEVICES)
def test_results_from_a_tensor_stay_on_its_device_with_the_same_numbers(factory, make, device):
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    cr.manual_seed(7)
    want = make(cr.Tensor(x, dtype="float64"))
    where = (cr.Tensor(strict.device_array(x), dtype="float64") if device == "strict"
             else fac.tensor(x, device=device))  # fmt: skip
    cr.manual_seed(7)
    got = make(where)
    if device == "strict":
        assert type(got.data) is strict.StrictArray
    else:
        assert got.device.type == device
    assert got.dtype == want.dtype and got.shape == want.shape
    if factory != "empty_like":
        np.testing.assert_array_equal(got.numpy(), want.numpy())


# -- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("factory,call", [
    ("zeros", lambda: fac.zeros(2, dtype=cr.int64, requires_grad=True)),
    ("ones", lambda: fac.ones(2, dtype="int32", requires_grad=True)),
    ("full", lambda: fac.full((2,), 3, requires_grad=True)),
    ("arange", lambda: fac.arange(3, requires_grad=True)),
    ("eye", lambda: fac.eye(2, dtype=bool, requires_grad=True)),
    ("tensor", lambda: fac.tensor([1, 2], requires_grad=True)),
    ("randint", lambda: fac.randint(3, (2,), requires_grad=True)),
    ("randperm", lambda: fac.randperm(3, requires_grad=True)),
    ("zeros_like", lambda: fac.zeros_like(fac.tensor([1, 2]), requires_grad=True)),
    ("linspace", lambda: fac.linspace(0, 1, 3, dtype=np.int64, requires_grad=True)),
])  # fmt: skip
def test_requires_grad_on_an_integer_dtype_is_an_error_naming_the_factory(factory, call):
    with pytest.raises(TypeError, match=rf"^{factory}: requires_grad=True needs floating-point data, got dtype "):
        call()
    assert fac.zeros(2, requires_grad=True).requires_grad and fac.arange(0.0, 3, requires_grad=True).requires_grad


@pytest.mark.parametrize("call,error,match", [
    (lambda: fac.zeros(2, -1), ValueError, r"^zeros: size \(2, -1\) has a negative entry; expected sizes >= 0"),
    (lambda: fac.ones(2.0), TypeError, r"^ones: size \(2.0,\) has a float entry; expected ints"),
    (lambda: fac.zeros(2, dtype="words"), TypeError, r"^zeros: 'words' is not a dtype"),
    (lambda: fac.rand(2, dtype=cr.int64), TypeError, r"^rand: dtype int64 is not allowed here; expected a floating"),
    (lambda: fac.randn_like(fac.tensor([1, 2])), TypeError, r"^randn_like: the input has dtype int64; expected a float"),
    (lambda: fac.arange(0, 5, 0), ValueError, r"^arange: step must be nonzero"),
    (lambda: fac.arange(0, 5, -1), ValueError, r"^arange: start=0, end=5 and step=-1 are inconsistent"),
    (lambda: fac.arange(0, float("inf")), ValueError, r"^arange: end=inf is not finite"),
    (lambda: fac.linspace(0, 1, -1), ValueError, r"^linspace: steps=-1; expected a number of steps >= 0"),
    (lambda: fac.randint(5, 5, (2,)), ValueError, r"^randint: low=5 >= high=5; expected low < high"),
    (lambda: fac.randint(5), TypeError, r"^randint: no size given"),
    (lambda: fac.randperm(-1), ValueError, r"^randperm: size \(-1,\) has a negative entry"),
    (lambda: fac.normal(0.0, -1.0, (2,)), ValueError, r"^normal: std=-1.0; expected std >= 0"),
    (lambda: fac.normal(0.0, fac.tensor([1.0, -1.0])), ValueError, r"^normal: std has negative entries"),
    (lambda: fac.normal(0.0, 1.0), TypeError, r"^normal: float mean and std need a size"),
    (lambda: fac.bernoulli(fac.tensor([0.5, 1.5])), ValueError, r"^bernoulli: probability 1.5 is outside \[0, 1\]"),
    (lambda: fac.bernoulli(fac.tensor([1, 0])), TypeError, r"^bernoulli: input has dtype int64; expected floating"),
    (lambda: fac.multinomial(fac.tensor([1.0, -1.0]), 1), ValueError,
     r"^multinomial: the weights contain inf, nan or an entry < 0"),
    (lambda: fac.multinomial(fac.tensor([1.0, float("nan")]), 1), ValueError, r"^multinomial: the weights contain inf"),
    (lambda: fac.multinomial(fac.tensor([[1.0, 1.0], [0.0, 0.0]]), 1), ValueError,
     r"^multinomial: row 1 of the weights sums to 0; expected a positive sum"),
    (lambda: fac.multinomial(fac.tensor([1.0, 1.0]), 3), ValueError,
     r"^multinomial: cannot draw 3 samples from 2 categories without replacement"),
    (lambda: fac.multinomial(fac.tensor([1.0, 1.0]), 0), ValueError, r"^multinomial: num_samples=0; expected an int > 0"),
    (lambda: fac.multinomial(fac.ones(1, 1, 2), 1), ValueError, r"^multinomial: input has shape \(1, 1, 2\); expected 1 or 2"),
    (lambda: fac.from_numpy([1.0, 2.0]), TypeError, r"^from_numpy: got list; expected a numpy.ndarray"),
    (lambda: fac.from_numpy(np.array(["a"])), TypeError, r"^from_numpy: the array has dtype <U1; expected a numeric"),
    (lambda: fac.tensor([[1.0], [1.0, 2.0]]), ValueError, r"^tensor: cannot make an array of list data"),
    (lambda: fac.tensor(["a"]), TypeError, r"^tensor: got list data \(NumPy dtype <U1\); expected numbers"),
    (lambda: fac.tensor([2**63]), ValueError, r"^tensor: an integer in the data does not fit int64"),
    (lambda: fac.zeros_like([1.0]), TypeError, r"^zeros_like: input is list; expected a Tensor"),
])  # fmt: skip
def test_bad_arguments_are_errors_naming_the_factory(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_torch_refuses_the_same_arguments():
    """The error cases above are PyTorch's errors too (whatever its words)."""
    for call in (lambda: torch.arange(0, 5, -1), lambda: torch.randint(5, 5, (2,)),
                 lambda: torch.multinomial(torch.tensor([1.0, 1.0]), 3), lambda: torch.multinomial(torch.tensor([1.0, -1.0]), 1),
                 lambda: torch.multinomial(torch.tensor([0.0, 0.0]), 1), lambda: torch.zeros(2, dtype=torch.int64, requires_grad=True),
                 lambda: torch.normal(0.0, -1.0, (2,)), lambda: torch.bernoulli(torch.tensor([1.5]))):  # fmt: skip
        with pytest.raises(RuntimeError):
            call()
    assert devices.CPU == "cpu"
