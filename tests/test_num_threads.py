"""chainrule.threads: PyTorch's set_num_threads / get_num_threads, and the pool that runs an
operation's parts at once (products cut by rows, columns or stacks; attention's chunks)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule import threads
from chainrule.ops.linalg import _cut, product, products

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_counts() -> list[int]:
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


@pytest.fixture
def count():
    """Set chainrule's count for one test, and put it back."""
    before = cr.get_num_threads()
    yield cr.set_num_threads
    cr.set_num_threads(before)


def test_the_names_are_pytorchs():
    assert cr.get_num_threads is threads.get_num_threads and cr.set_num_threads is threads.set_num_threads


def test_set_num_threads_is_read_back_and_blas_runs_on_one_thread(count):
    count(1)
    assert cr.get_num_threads() == 1 and set(_blas_counts()) == {1}
    count(3)  # the pool splits the products: BLAS runs each part on one thread
    assert cr.get_num_threads() == 3 and set(_blas_counts()) == {1}


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2", None])
def test_a_bad_count_is_refused_before_anything_changes(bad):
    before = cr.get_num_threads()
    with pytest.raises(ValueError, match=r"set_num_threads: expected a positive int, got"):
        cr.set_num_threads(bad)
    assert cr.get_num_threads() == before


def test_the_environment_sets_the_count_before_import():
    n = "1"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": n, "OMP_NUM_THREADS": n}
    out = subprocess.run([sys.executable, "-c", "import chainrule as cr; print(cr.get_num_threads())"],
                         env=env, capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    assert out.stdout.strip() == n


def test_parallel_covers_the_range_once_in_contiguous_pieces(count):
    count(3)
    seen = []
    threads.parallel(lambda start, stop: seen.append((start, stop)), 10, 3)
    assert sorted(seen) == [(0, 3), (3, 6), (6, 10)] == list(zip(threads.bounds(10, 3), threads.bounds(10, 3)[1:]))
    seen.clear()
    threads.parallel(lambda start, stop: seen.append((start, stop)), 2, 3)  # no more pieces than units
    assert sorted(seen) == [(0, 1), (1, 2)]
    seen.clear()
    threads.parallel(lambda start, stop: seen.append((start, stop)), 12, 6)  # more pieces than threads
    assert sorted(seen) == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10), (10, 12)]


def test_pieces_run_at_once_on_the_caller_and_the_pool(count):
    count(2)
    both = threading.Barrier(2, timeout=30)  # broken (an error) unless the two pieces run at the same time
    where = []

    def work(start, stop):
        both.wait()
        where.append(threading.current_thread().name)

    threads.parallel(work, 2, 2)
    assert sorted(where) == ["MainThread", "chainrule-pool"]


def test_parallel_raises_the_first_error_after_every_piece_has_ended(count):
    count(2)
    ended = []

    def work(start, stop):
        if start == 0:
            raise KeyError("piece 0")
        threading.Event().wait(0.05)
        ended.append(start)

    with pytest.raises(KeyError, match="piece 0"):
        threads.parallel(work, 2, 2)
    assert ended == [1]
    threads.parallel(lambda a, b: ended.append((a, b)), 2, 2)  # the pool still works
    assert sorted(ended[1:]) == [(0, 1), (1, 2)]


def test_a_piece_runs_its_own_work_serially(count):
    count(2)
    both, inner = threading.Barrier(2, timeout=30), []

    def work(start, stop):
        both.wait()  # one piece on the caller, one on the pool
        on_pool = threading.current_thread().name == "chainrule-pool"
        assert threads.parts(10**9, 1) == (1 if on_pool else 2)  # the caller's may be cut; the pool's not
        threads.parallel(lambda a, b: inner.append((on_pool, a, b)), 4, 2)  # the pool is busy: one call

    threads.parallel(work, 2, 2)
    assert sorted(inner) == [(False, 0, 4), (True, 0, 4)]


def test_parts_keeps_each_part_big_enough(count):
    count(4)
    assert threads.parts(100, 30) == 3 and threads.parts(100, 1) == 4 and threads.parts(10, 30) == 1
    count(1)
    assert threads.parts(10**9, 1) == 1


@pytest.mark.parametrize("a_shape, b_shape, cut", [
    ((512, 256), (256, 384), 0),  # rows
    ((16, 256), (256, 2048), -1),  # few rows: the columns
    ((8, 128, 64), (8, 64, 128), 0),  # a stack: its first axis
    ((8, 128, 64), (64, 128), 0),  # a stack times one matrix
])
def test_a_product_cut_for_the_pool_gives_the_same_numbers(count, a_shape, b_shape, cut):
    g = np.random.default_rng(0)
    a, b = g.standard_normal(a_shape).astype(np.float32), g.standard_normal(b_shape).astype(np.float32)
    count(1)
    assert _cut(a, b) is None
    whole = product(a, b)
    count(2)
    assert _cut(a, b) == (cut, 2)
    np.testing.assert_allclose(product(a, b), whole, rtol=1e-5, atol=1e-5)
    out = np.full(whole.shape, np.nan, np.float32)
    assert product(a, b, out=out) is out
    np.testing.assert_allclose(out, whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("a, b", [
    (np.ones((64, 64), np.float32), np.ones((64, 64), np.float32)),  # too small to cut
    (np.ones((512, 256), np.float32), np.ones((256, 384), np.float64)),  # mixed dtypes
    (np.ones((512, 256), np.int64), np.ones((256, 384), np.int64)),  # not BLAS's
    (np.ones((4, 128, 64), np.float32), np.ones((1, 64, 128), np.float32)),  # broadcast stacks
])
def test_what_is_not_cut(count, a, b):
    count(2)
    assert _cut(a, b) is None
    np.testing.assert_array_equal(product(a, b), a @ b)


def test_a_transposed_view_is_cut_without_a_copy(count):
    g = np.random.default_rng(1).standard_normal((2048, 384)).astype(np.float32)  # a bias gradient's rows
    x = np.random.default_rng(2).standard_normal((2048, 128)).astype(np.float32)
    count(1)
    whole = product(g.T, x)  # a weight's gradient, g^T x
    count(2)
    assert _cut(g.T, x) == (0, 2)
    np.testing.assert_allclose(product(g.T, x), whole, rtol=1e-5, atol=1e-4)


def test_products_share_the_threads_one_whole_product_a_thread_on_two(count, monkeypatch):
    """A linear layer's gx = g W and gW = g^T x in one call of the pool: on two threads each
    runs whole on a thread of its own (the same bits as on one thread), on four each is cut in
    two; small or mixed ones are ``product``'s, one after the other; the bias's column sums
    are one more unit of the call."""
    g = np.random.default_rng(4)
    up, x = g.standard_normal((2048, 384)).astype(np.float32), g.standard_normal((2048, 128)).astype(np.float32)
    w = g.standard_normal((384, 128)).astype(np.float32)
    count(1)
    whole = [up @ w, up.T @ x]
    calls, ran = [], []
    real = threads.parallel
    monkeypatch.setattr(threads, "parallel", lambda work, total, n: (calls.append((total, n)), real(work, total, n)))
    monkeypatch.setattr(np, "matmul", lambda a, b, out: (ran.append(a.shape[0]), out.__setitem__(..., a @ b)))
    count(2)
    got = products((up, w), (up.T, x))
    assert calls == [(2, 2)] and sorted(ran) == [384, 2048]  # one call of the pool, each product whole
    for a, b in zip(got, whole):
        np.testing.assert_array_equal(a, b)
    calls.clear()
    count(4)
    got = products((up, w), (up.T, x))
    assert calls == [(4, 4)]  # each product cut in two
    for a, b in zip(got, whole):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    calls.clear()
    small = products((np.ones((4, 3)), np.ones((3, 2))), (up, w))
    assert calls == [(2048, 4)] and small[0].tolist() == [[3.0, 3.0]] * 4  # each on its own
    calls.clear()
    count(2)
    *got, sums = products((up, w), (up.T, x), sums=up)  # a bias's gradient: a third unit of the call
    assert calls == [(3, 3)]
    np.testing.assert_allclose(sums, up.sum(axis=0), rtol=1e-4, atol=1e-3)
    for a, b in zip(got, whole):
        np.testing.assert_array_equal(a, b)
    count(1)
    assert len(products((up, w), (up.T, x), sums=up)) == 3  # on one thread too


def test_a_gpt_step_on_two_threads_matches_one(count):
    from chainrule.models import GPT, GPTConfig
    from chainrule.tasks.language import lm_loss

    x = np.random.default_rng(0).integers(0, 11, (8, 33))
    grads = []
    for n in (1, 2):
        count(n)
        cr.manual_seed(0)
        model = GPT(GPTConfig(block_size=32, vocab_size=11, n_layer=2, n_head=2, n_embd=64))
        loss = lm_loss(model(cr.tensor(x[:, :-1])), cr.tensor(x[:, 1:]))
        loss.backward()
        grads.append([loss.item()] + [p.grad.numpy() for p in model.parameters()])
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-6)
    for one, two in zip(grads[0][1:], grads[1][1:]):
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-6)


def test_layer_norm_and_gelu_on_two_threads_match_one(count):
    from chainrule.ops import kernels, special

    if not kernels.available():
        pytest.skip("Numba is not installed: the compiled loops are what the pool splits")
    g = np.random.default_rng(3)
    x, up = (g.standard_normal((1024, 128)).astype(np.float32) for _ in range(2))
    w, b = g.standard_normal(128).astype(np.float32), g.standard_normal(128).astype(np.float32)
    big = g.standard_normal(1 << 19).astype(np.float32)  # 512K: four GELU spans
    results = []
    for n in (1, 2):
        count(n)
        out, mean, rstd = kernels.layer_norm(x, w, b, 1e-5)
        grads = kernels.layer_norm_backward(x, w, mean, rstd, up, True)
        results.append((out, mean, rstd, *grads, *special._rational32_compiled(special._PHI32, big, True),
                        special._gelu_grad_compiled(big, big)))  # fmt: skip
    assert threads.parts(1024, -(-kernels._ROWS_PART // 128)) == 2  # the rows were cut
    for one, two in zip(*results):  # float32 column sums of 1024 rows: a few units in the last place
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-4)
    for i in (0, 1, 2, 3, 6, 7, 8):  # rows and elements apart: the same bits; gw, gb: sums in another order
        np.testing.assert_array_equal(results[1][i], results[0][i])


def test_a_compiled_gpt_step_on_two_threads_matches_eager_on_one(count):
    from chainrule.models import GPT, GPTConfig
    from chainrule.tasks.language import lm_loss

    x = np.random.default_rng(0).integers(0, 11, (8, 129))  # 8 x 4 heads of (128, 128) scores: two chunks
    runs = []
    for n, compiled in ((1, False), (2, True)):
        count(n)
        cr.manual_seed(0)
        model = GPT(GPTConfig(block_size=128, vocab_size=11, n_layer=2, n_head=4, n_embd=64))
        opt = cr.optim.SGD(model.parameters(), lr=0.1)

        def step(a, b, model=model, opt=opt):
            loss = lm_loss(model(a), b)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        run = cr.compile(step) if compiled else step
        losses = [float(run(x[:, :-1], x[:, 1:])) for _ in range(3)]
        runs.append((losses, [p.detach().numpy().copy() for p in model.parameters()], run))
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-5)
    for one, two in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-5)
    source = runs[1][2].source()
    assert "chunked_forward(" in source and "chunked_backward(" in source  # attention: one call each
    assert "product(" in source  # the products, cut at each replay


def test_a_forked_child_makes_its_own_pool(count):
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    count(2)
    threads.parallel(lambda a, b: None, 2, 2)  # the parent's pool exists
    code = ("import os, chainrule as cr\nfrom chainrule import threads\ncr.set_num_threads(2)\n"
            "threads.parallel(lambda a, b: None, 2, 2)\npid = os.fork()\n"
            "if pid == 0:\n    seen = []\n    threads.parallel(lambda a, b: seen.append(a), 2, 2)\n"
            "    os._exit(0 if sorted(seen) == [0, 1] else 1)\n"
            "print(os.waitpid(pid, 0)[1])\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "0"


def test_limited_sets_the_count_for_a_block_and_puts_it_back_after_an_error(count):
    count(2)
    with pytest.raises(KeyError):
        with threads.limited(1):
            assert cr.get_num_threads() == 1 and threads.parts(10**9, 1) == 1
            raise KeyError("inside")
    assert cr.get_num_threads() == 2
