"""``nn.init`` and the layers' default initialization against PyTorch's.

Deterministic fills (``eye_``, ``dirac_``, ``constant_``, gains, fans) must equal torch's
exactly. Random ones cannot give torch's numbers (its generator is its own), so they are
checked by distribution: a large tensor filled by each library on the same shape, compared
by mean, standard deviation and, for uniform draws, the largest magnitude (which comes
within a hair of the bound), at tolerances a few times the sampling error, so a wrong gain,
fan or family (normal for uniform) fails. Orthogonality, truncation and sparsity are checked
as properties. Layers are compared parameter by parameter: pooled over several seeded
draws, each parameter of ours against torch's of the same name.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")
tinit = torch.nn.init
init = nn.init

SHAPES = [(2, 3), (5, 1), (4, 3, 5), (8, 4, 3, 3), (2, 3, 1, 1, 5), (0, 3), (3, 0, 2)]


def ours_and_theirs(fill, tfill, shape, *args, seed=0, **kwargs):
    cr.manual_seed(seed)
    torch.manual_seed(seed)
    a = fill(nn.Parameter(np.zeros(shape)), *args, **kwargs).numpy()
    b = tfill(torch.empty(shape), *args, **kwargs).numpy()
    return a, b


def assert_like(a: np.ndarray, b: np.ndarray, uniform: bool, what: str = "") -> None:
    """``a`` (ours) drawn from the distribution ``b`` (torch's) was: same mean, std and, for a
    uniform, the same bound, within a few times the sampling error of ``len(a)`` values."""
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    n = min(a.size, b.size)
    std = b.std()
    assert abs(a.mean() - b.mean()) < 6 * std / math.sqrt(n) + 1e-12, (what, a.mean(), b.mean())
    assert a.std() == pytest.approx(std, rel=8 / math.sqrt(n)), (what, a.std(), std)
    if uniform:
        near = 20 / n * (b.max() - b.min())  # the extremes of n draws lie about range / n inside the bounds
        assert abs(a.min() - b.min()) < near and abs(a.max() - b.max()) < near, (what, a.min(), b.min(), a.max(), b.max())


# -- deterministic: exactly torch's ---------------------------------------------------------------------


@pytest.mark.parametrize("nonlinearity", ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                          "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu",
                                          "leaky_relu", "selu"])  # fmt: skip
def test_calculate_gain_is_torchs(nonlinearity):
    assert init.calculate_gain(nonlinearity) == tinit.calculate_gain(nonlinearity)


@pytest.mark.parametrize("param", [None, 0, 0.2, 1, 3, 0.01, np.float64(0.5)])
def test_leaky_relu_gain_takes_the_slope(param):
    assert init.calculate_gain("leaky_relu", param) == tinit.calculate_gain("leaky_relu", param)


@pytest.mark.parametrize("args", [("swish",), ("leaky_relu", True), ("leaky_relu", "0.2"), ("leaky_relu", [0.2])])
def test_calculate_gain_refuses_what_torch_refuses(args):
    with pytest.raises(ValueError):
        tinit.calculate_gain(*args)
    with pytest.raises(ValueError, match=r"^nn\.init\.calculate_gain: .*expected"):
        init.calculate_gain(*args)


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_are_torchs(shape):
    expected = tinit._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(nn.Parameter(np.zeros(shape))) == expected
    assert init.fans(shape) == expected  # chainrule's older spelling, on a shape


@pytest.mark.parametrize("shape", [(), (4,)])
def test_fans_need_two_dims(shape):
    with pytest.raises(ValueError):
        tinit._calculate_fan_in_and_fan_out(torch.empty(shape))
    with pytest.raises(ValueError, match=rf"nn\.init: .*shape {re_shape(shape)}.*expected 2 or more dimensions"):
        init._calculate_fan_in_and_fan_out(cr.Tensor(np.zeros(shape)))


def re_shape(shape: tuple) -> str:
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2), (1, 1)])
def test_eye_is_torchs(shape):
    a, b = ours_and_theirs(init.eye_, tinit.eye_, shape)
    assert np.array_equal(a, b)


@pytest.mark.parametrize(("shape", "groups"), [((4, 4, 3), 1), ((6, 3, 3, 3), 1), ((3, 16, 5, 5), 1), ((6, 6, 3, 3), 2),
                                               ((6, 6, 4, 4), 3), ((3, 24, 5, 5), 3), ((4, 2, 3, 3, 3), 1),
                                               ((4, 4, 2, 2, 2), 2), ((2, 5, 1), 1)])  # fmt: skip
def test_dirac_is_torchs(shape, groups):
    a, b = ours_and_theirs(init.dirac_, tinit.dirac_, shape, groups)
    assert np.array_equal(a, b)


@pytest.mark.parametrize(("fill", "args"), [("constant_", (0.3,)), ("constant_", (-2,)), ("ones_", ()), ("zeros_", ())])
def test_constant_fills_are_torchs(fill, args):
    cr.manual_seed(0)
    a = getattr(init, fill)(nn.Parameter(np.full((3, 4), 7.0)), *args).numpy()
    assert np.array_equal(a, getattr(tinit, fill)(torch.full((3, 4), 7.0), *args).numpy())


@pytest.mark.parametrize(("fill", "shape", "args"), [
    ("eye_", (3,), ()), ("eye_", (2, 2, 2), ()), ("dirac_", (3, 3), ()), ("dirac_", (2, 2, 2, 2, 2, 2), ()),
    ("dirac_", (4, 4, 3), (3,)), ("orthogonal_", (4,), ()), ("sparse_", (4,), (0.5,)), ("sparse_", (2, 3, 4), (0.5,)),
    ("xavier_uniform_", (5,), ()), ("kaiming_normal_", (5,), ()), ("kaiming_uniform_", (3, 4), (0, "fan_both")),
])  # fmt: skip
def test_bad_shapes_and_arguments_are_refused_as_torch_refuses(fill, shape, args):
    with pytest.raises(ValueError):
        getattr(tinit, fill)(torch.empty(shape), *args)
    t = nn.Parameter(np.full(shape, 7.0))
    with pytest.raises(ValueError, match=r"nn\.init.*expected"):
        getattr(init, fill)(t, *args)
    assert (t.numpy() == 7).all()  # refused before anything was written


def test_not_a_tensor_and_not_a_numpy_generator_are_type_errors():
    with pytest.raises(TypeError, match=r"^nn\.init\.normal_: got a ndarray; expected a Tensor"):
        init.normal_(np.zeros(3))
    with pytest.raises(TypeError, match=r"^nn\.init\.uniform_: generator=.*expected a NumPy Generator"):
        init.uniform_(cr.zeros(3), generator=torch.Generator())
    with pytest.raises(TypeError, match=r"^nn\.init\.normal_: a tensor of dtype int64; expected a floating-point"):
        init.normal_(cr.tensor([1, 2], dtype="int64"))


# -- random: torch's distributions --------------------------------------------------------------------------

R = (256, 512)  # fan_in 512, fan_out 256: a swapped fan changes the scale by sqrt(2)
C = (64, 32, 3, 3)  # fan_in 288, fan_out 576
RANDOM = [
    ("uniform_", R, (), {}, True),
    ("uniform_", R, (-3.0, 5.0), {}, True),
    ("uniform_", C, (), {"a": -0.1, "b": 0.2}, True),
    ("normal_", R, (), {}, False),
    ("normal_", R, (2.0, 0.5), {}, False),
    ("normal_", C, (), {"mean": -1.0, "std": 3.0}, False),
    ("xavier_uniform_", R, (), {}, True),
    ("xavier_uniform_", C, (2.0,), {}, True),
    ("xavier_normal_", R, (), {}, False),
    ("xavier_normal_", C, (), {"gain": 5 / 3}, False),
    ("kaiming_uniform_", R, (), {}, True),
    ("kaiming_uniform_", R, (math.sqrt(5),), {}, True),  # PyTorch's layers' default
    ("kaiming_uniform_", C, (), {"mode": "fan_out", "nonlinearity": "relu"}, True),
    ("kaiming_uniform_", R, (0.2,), {"mode": "FAN_OUT"}, True),
    ("kaiming_uniform_", R, (), {"nonlinearity": "selu"}, True),
    ("kaiming_uniform_", C, (), {"nonlinearity": "tanh"}, True),
    ("kaiming_normal_", R, (), {}, False),
    ("kaiming_normal_", R, (math.sqrt(5),), {}, False),
    ("kaiming_normal_", C, (), {"mode": "fan_out", "nonlinearity": "relu"}, False),
    ("kaiming_normal_", R, (), {"nonlinearity": "linear"}, False),
    ("kaiming_normal_", C, (), {"a": 0.3, "nonlinearity": "leaky_relu"}, False),
    ("trunc_normal_", R, (), {}, False),
    ("trunc_normal_", R, (0.0, 0.02, -0.04, 0.04), {}, False),  # ViT's: [-2 std, 2 std]
    ("trunc_normal_", R, (), {"mean": 0.5, "std": 1.0, "a": 2.0, "b": 3.0}, False),  # a tail: uniform proposals
    ("trunc_normal_", R, (), {"a": -math.inf, "b": 0.5}, False),  # one-sided
    ("trunc_normal_", R, (), {"mean": 1.0, "std": 2.0, "a": 0.9, "b": 1.1}, False),  # narrow: nearly uniform
]


@pytest.mark.parametrize(("fill", "shape", "args", "kwargs", "uniform"), RANDOM,
                         ids=[f"{f}-{i}" for i, (f, *_) in enumerate(RANDOM)])  # fmt: skip
def test_random_fills_draw_from_torchs_distribution(fill, shape, args, kwargs, uniform):
    a, b = ours_and_theirs(getattr(init, fill), getattr(tinit, fill), shape, *args, **kwargs)
    assert a.shape == b.shape and a.dtype == b.dtype == np.float32
    assert_like(a, b, uniform)
    if fill == "trunc_normal_":  # and never outside [a, b], the bounds as float32 holds them
        lo, hi = kwargs.get("a", args[2] if args else -2.0), kwargs.get("b", args[3] if args else 2.0)
        assert a.min() >= np.float32(lo) and a.max() <= np.float32(hi)
        assert b.min() >= np.float32(lo) and b.max() <= np.float32(hi)


def test_trunc_normal_far_in_a_tail_and_its_warning():
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        tinit.trunc_normal_(torch.empty(1000), mean=0.0, std=1.0, a=6.0, b=7.0)
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        w = init.trunc_normal_(cr.zeros(100_000), mean=0.0, std=1.0, a=6.0, b=7.0).numpy()
    assert w.min() >= 6 and w.max() <= 7
    # N(0, 1) on [6, 7]: about an exponential with rate 6 from 6, mean 6 + 1/6.16
    assert w.mean() == pytest.approx(6.16, abs=0.01)


@pytest.mark.parametrize(("shape", "gain"), [((6, 4), 1.0), ((4, 6), 1.0), ((8, 3, 2, 2), 2.0), ((5, 5), 0.5),
                                             ((1, 7), 1.0), ((300, 200), 1.0)])  # fmt: skip
def test_orthogonal_is_orthogonal_as_torchs(shape, gain):
    a, b = ours_and_theirs(init.orthogonal_, tinit.orthogonal_, shape, gain)
    assert a.shape == b.shape == shape
    for q in (a, b):
        q = q.reshape(shape[0], -1)
        small = q @ q.T if q.shape[0] <= q.shape[1] else q.T @ q  # the semi-orthogonal side
        np.testing.assert_allclose(small, gain**2 * np.eye(len(small)), atol=1e-5 * gain**2)


def test_orthogonal_is_uniformly_distributed():
    # Q's sign fix by R's diagonal (Mezzadri) makes Q Haar: its entries' mean is 0, diagonal too
    diag = np.concatenate([init.orthogonal_(cr.zeros(4, 4)).numpy().diagonal() for _ in range(2000)])
    assert abs(diag.mean()) < 0.03  # unfixed, numpy's QR gives a diagonal of mean about -0.6
    a, b = ours_and_theirs(init.orthogonal_, tinit.orthogonal_, (500, 200))
    assert_like(a, b, uniform=False)


@pytest.mark.parametrize(("shape", "sparsity", "std"), [((100, 50), 0.1, 0.01), ((7, 300), 0.5, 1.0), ((10, 3), 0.0, 0.01),
                                                        ((10, 3), 1.0, 0.01)])  # fmt: skip
def test_sparse_zeros_as_many_per_column_as_torch(shape, sparsity, std):
    a, b = ours_and_theirs(init.sparse_, tinit.sparse_, shape, sparsity, std)
    assert ((a == 0).sum(axis=0) == (b == 0).sum(axis=0)).all()  # ceil(sparsity * rows) per column
    if sparsity < 1:
        assert_like(a[a != 0], b[b != 0], uniform=False)


def test_a_numpy_generator_makes_a_fill_repeatable_and_leaves_the_stream_alone():
    cr.manual_seed(0)
    state = cr.rng.get_state()
    for fill, args in [("uniform_", ()), ("normal_", ()), ("trunc_normal_", ()), ("xavier_uniform_", ()),
                       ("xavier_normal_", ()), ("kaiming_uniform_", ()), ("kaiming_normal_", ()), ("orthogonal_", ()),
                       ("sparse_", (0.5,))]:  # fmt: skip
        a = getattr(init, fill)(cr.zeros(20, 10), *args, generator=np.random.default_rng(7)).numpy()
        b = getattr(init, fill)(cr.zeros(20, 10), *args, generator=np.random.default_rng(7)).numpy()
        assert np.array_equal(a, b) and a.any(), fill
    assert cr.rng.get_state() == state  # chainrule's stream did not move
    cr.manual_seed(3)
    a = init.normal_(cr.zeros(5)).numpy()
    cr.manual_seed(3)
    assert np.array_equal(a, init.normal_(cr.zeros(5)).numpy())  # without one: the seeded stream


def test_fills_are_in_place_return_the_tensor_and_record_nothing():
    w = nn.Parameter(np.zeros((4, 3)))
    array = w.data
    for fill, args in [("uniform_", ()), ("normal_", ()), ("trunc_normal_", ()), ("constant_", (2.0,)), ("ones_", ()),
                       ("zeros_", ()), ("eye_", ()), ("xavier_uniform_", ()), ("xavier_normal_", ()),
                       ("kaiming_uniform_", ()), ("kaiming_normal_", ()), ("orthogonal_", ()), ("sparse_", (0.5,))]:  # fmt: skip
        out = getattr(init, fill)(w, *args)
        assert out is w and w.data is array and w.requires_grad and w.is_leaf, fill
        assert w.grad is None and w._writer == f"nn.init.{fill}", fill


def test_zero_element_tensors_warn_as_torchs():
    for fill in ("kaiming_uniform_", "kaiming_normal_"):
        with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
            getattr(tinit, fill)(torch.empty(0, 3))
        with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
            getattr(init, fill)(cr.zeros(0, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fill in ("xavier_uniform_", "xavier_normal_", "orthogonal_", "uniform_", "normal_"):
            assert getattr(init, fill)(cr.zeros(0, 3)).shape == (0, 3)


def test_deprecated_names_warn_as_torchs():
    with pytest.warns(FutureWarning, match=r"`nn\.init\.xavier_uniform` is now deprecated in favor of"):
        tinit.xavier_uniform(torch.empty(2, 2))
    with pytest.warns(FutureWarning, match=r"`nn\.init\.xavier_uniform` is now deprecated in favor of"):
        w = init.xavier_uniform(cr.zeros(2, 2))
    assert w.numpy().any()


# -- chainrule's older spellings keep working ----------------------------------------------------------------


def test_older_spellings_keep_their_meaning():
    shape = (256, 512)
    he = math.sqrt(2 / 512)
    cr.manual_seed(0)
    assert init.kaiming_normal_(cr.zeros(*shape), nonlinearity="relu").numpy().std() == pytest.approx(he, rel=0.02)
    w = init.kaiming_uniform_(cr.zeros(*shape), "relu").numpy()  # the nonlinearity in a's place
    assert w.std() == pytest.approx(he, rel=0.02) and np.abs(w).max() <= math.sqrt(3) * he
    w = init.kaiming_normal_(cr.zeros(*shape), "tanh").numpy()
    assert w.std() == pytest.approx(5 / 3 / math.sqrt(512), rel=0.02)
    with pytest.raises(TypeError, match=r"nn\.init\.kaiming_uniform_: a='relu' and nonlinearity='tanh'"):
        init.kaiming_uniform_(cr.zeros(2, 2), "relu", nonlinearity="tanh")
    w = init.uniform_(cr.zeros(10_000), -2.0, -1.0).numpy()  # (t, low, high), positionally
    assert w.min() >= -2 and w.max() <= -1 and w.mean() == pytest.approx(-1.5, abs=0.02)
    w = init.uniform_(cr.zeros(10_000), low=3.0, high=4.0).numpy()  # and by the old names
    assert w.min() >= 3 and w.max() <= 4
    w = init.normal_(cr.zeros(10_000), 5.0, 0.1).numpy()  # (t, mean, std), positionally
    assert w.mean() == pytest.approx(5, abs=0.01) and w.std() == pytest.approx(0.1, rel=0.05)
    assert init.fans((64, 3, 3, 3)) == (27, 576) and init.gain("relu") == math.sqrt(2)
    with pytest.raises(ValueError, match=r"nn\.init\.uniform_: a=1.0 > b=0.0"):
        init.uniform_(cr.zeros(2), 1.0, 0.0)


# -- the layers' defaults ----------------------------------------------------------------------------------------


def pooled(make, seeds=range(12)) -> dict[str, np.ndarray]:
    """Each named parameter's values over several seeded constructions, concatenated."""
    draws: dict[str, list] = {}
    for seed in seeds:
        cr.manual_seed(seed)
        torch.manual_seed(seed)
        for name, p in make().named_parameters():
            draws.setdefault(name, []).append(p.detach().numpy().ravel() if hasattr(p, "detach") else p.numpy().ravel())
    return {k: np.concatenate(v) for k, v in draws.items()}


def assert_initialized_as_torch(make_ours, make_theirs, seeds=range(12)):
    ours, theirs = pooled(make_ours, seeds), pooled(make_theirs, seeds)
    assert list(ours) == list(theirs)
    for name, b in theirs.items():
        a = ours[name]
        if np.all(b == b[0]):  # a constant (zeros, ones): exactly
            assert np.array_equal(a, b), name
        else:
            assert_like(a, b, uniform=True, what=name)


@pytest.mark.parametrize(("i", "o", "bias"), [(64, 300, True), (3, 1000, True), (500, 40, False), (1, 1000, True)])
def test_linear_is_torchs(i, o, bias):
    assert_initialized_as_torch(lambda: nn.Linear(i, o, bias), lambda: torch.nn.Linear(i, o, bias))


def test_linear_reset_parameters_draws_again_by_its_scheme():
    cr.manual_seed(0)
    lin = nn.Linear(100, 1000)
    before = lin.weight.numpy().copy()
    lin.reset_parameters()
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert not np.array_equal(w, before) and np.abs(w).max() <= 0.1 and np.abs(b).max() <= 0.1 and b.any()
    he = nn.Linear(100, 1000, init="kaiming")
    he.reset_parameters()
    assert he.weight.numpy().std() == pytest.approx(math.sqrt(2 / 100), rel=0.03) and not he.bias.numpy().any()


def test_a_linear_with_no_inputs_is_zero_as_torchs():
    with pytest.warns(UserWarning, match="zero-element"):
        theirs = torch.nn.Linear(0, 3)
    with pytest.warns(UserWarning, match="zero-element"):
        ours = nn.Linear(0, 3)
    assert np.array_equal(ours.bias.numpy(), theirs.bias.detach().numpy()) and not ours.bias.numpy().any()


@pytest.mark.parametrize("kwargs", [{}, {"bias": False}, {"kdim": 16, "vdim": 24}])
def test_multihead_attention_is_torchs(kwargs):
    assert_initialized_as_torch(lambda: nn.MultiheadAttention(32, 4, **kwargs),
                                lambda: torch.nn.MultiheadAttention(32, 4, **kwargs))  # fmt: skip


@pytest.mark.parametrize("layer", ["TransformerEncoderLayer", "TransformerDecoderLayer"])
def test_transformer_layers_are_torchs(layer):
    assert_initialized_as_torch(lambda: getattr(nn, layer)(32, 4, 64), lambda: getattr(torch.nn, layer)(32, 4, 64))


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_transformer_is_torchs():
    # every matrix drawn again Glorot uniform; the feed-forward biases keep Linear's draw
    assert_initialized_as_torch(lambda: nn.Transformer(32, 4, 1, 1, 64), lambda: torch.nn.Transformer(32, 4, 1, 1, 64),
                                seeds=range(6))  # fmt: skip


@pytest.mark.parametrize("make", [
    lambda lib: lib.BatchNorm1d(5), lambda lib: lib.BatchNorm2d(3, affine=False), lambda lib: lib.LayerNorm((2, 3)),
    lambda lib: lib.LayerNorm(4, bias=False), lambda lib: lib.RMSNorm(6),
])  # fmt: skip
def test_norms_start_as_torchs(make):
    ours, theirs = make(nn).state_dict(), make(torch.nn).state_dict()
    assert list(ours) == list(theirs)
    for k, v in theirs.items():
        assert np.array_equal(np.asarray(ours[k]), v.numpy()), k


# -- the built-in models' choices ------------------------------------------------------------------------------


def test_the_lectures_mlp_keeps_he_and_glorot_with_zero_biases():
    from chainrule.models import build_model

    cr.manual_seed(0)
    relu = build_model("mlp", (784,), 10, hidden=512)
    assert relu[1].weight.numpy().std() == pytest.approx(math.sqrt(2 / 784), rel=0.03)
    assert not relu[1].bias.numpy().any() and not relu[3].bias.numpy().any()
    tanh = build_model("mlp", (784,), 10, hidden=512, activation="tanh")
    assert tanh[1].weight.numpy().std() == pytest.approx(math.sqrt(2 / (784 + 512)), rel=0.03)


def test_linear_classifiers_and_alexnet_start_as_pytorchs():
    from chainrule.models import AlexNetCifar, build_model

    assert_initialized_as_torch(lambda: build_model("linear-softmax", (8, 8), 10)[1],
                                lambda: torch.nn.Linear(64, 10), seeds=range(40))  # fmt: skip
    cr.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = AlexNetCifar(10).classifier, torch.nn.Linear(1024, 1024)
    assert_like(ours[1].weight.numpy(), theirs.weight.detach().numpy(), uniform=True)


def test_the_gpt_keeps_nanogpts_initialization():
    from chainrule.models import GPT, GPTConfig

    cr.manual_seed(0)
    gpt = GPT(GPTConfig(n_layer=2, n_embd=128))
    params = dict(gpt.named_parameters())
    assert params["transformer.h.0.attn.c_attn.weight"].numpy().std() == pytest.approx(0.02, rel=0.02)
    assert params["transformer.h.0.mlp.c_proj.weight"].numpy().std() == pytest.approx(0.02 / 2, rel=0.02)
    assert not params["transformer.h.0.attn.c_attn.bias"].numpy().any()
