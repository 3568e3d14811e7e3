"""chainrule.threads (intra-op threads): the count (PyTorch's names), ``split``'s contract, fork
safety, and the gates that split their work giving the same bits on one thread and on several."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule import threads
from chainrule.ops import kernels


@pytest.fixture
def count(monkeypatch: pytest.MonkeyPatch):
    """Set chainrule's own count for one test (BLAS's left alone)."""

    def set_to(n: int) -> None:
        monkeypatch.setattr(threads, "_count", n)

    return set_to


def test_the_names_are_pytorchs():
    assert cr.get_num_threads is threads.get_num_threads and cr.set_num_threads is threads.set_num_threads
    assert isinstance(cr.get_num_threads(), int) and cr.get_num_threads() >= 1


def test_the_default_follows_omp_num_threads(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads._default() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "nonsense")
    assert threads._default() >= 1  # the CPUs this process may use


def test_set_num_threads_sets_ours_and_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = cr.get_num_threads()
    blas = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    try:
        cr.set_num_threads(1)
        assert cr.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas")
    finally:
        threads.set_own_threads(before)
        if blas:
            threadpoolctl.threadpool_limits(limits=max(blas), user_api="blas")


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2", None])
def test_a_bad_count_is_refused_before_anything_changes(bad):
    before = cr.get_num_threads()
    with pytest.raises(ValueError, match="set_num_threads: expected a positive int"):
        cr.set_num_threads(bad)
    with pytest.raises(ValueError, match="set_own_threads"):
        threads.set_own_threads(bad)
    assert cr.get_num_threads() == before


def test_split_runs_each_item_once_on_several_threads(count):
    count(3)
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def work(group):
        for i in group:
            with lock:
                seen.append((i, threading.get_ident()))

    threads.split(work, list(range(10)))
    assert sorted(i for i, _ in seen) == list(range(10))
    assert len({t for _, t in seen}) >= 2  # the caller and the pool's (an idle one may take two groups)
    assert threading.get_ident() in {t for _, t in seen}


def test_split_is_serial_when_told_or_with_one_thread_or_one_item(count):
    count(4)
    for items, parallel in ((list(range(5)), False), ([7], True)):
        idents = set()
        threads.split(lambda g: idents.add(threading.get_ident()), items, parallel)  # noqa: B023
        assert idents == {threading.get_ident()}
    count(1)
    groups = []
    threads.split(groups.append, list(range(4)))
    assert groups == [[0, 1, 2, 3]]


def test_split_inside_the_pool_runs_its_own_work_serially(count):
    count(2)
    inner: dict[int, set[int]] = {}

    def outer(group):
        for i in group:
            inner[i] = set()
            threads.split(lambda g, i=i: inner[i].add(threading.get_ident()), list(range(4)))

    threads.split(outer, [0, 1])
    assert len(inner[1]) == 1  # item 1 ran on the pool: its own split stayed there, never waiting on the pool


def test_an_error_is_raised_after_every_group_is_done(count):
    count(2)
    done = []

    def work(group):
        if 0 in group:
            raise KeyError("the caller's group")
        threading.Event().wait(0.05)
        done.append(group)

    with pytest.raises(KeyError, match="the caller's group"):
        threads.split(work, [0, 1])
    assert done == [[1]]  # the other group had finished (it writes into the outputs) before the raise

    def worker_fails(group):
        if 1 in group:
            raise ZeroDivisionError("a pool thread's group")

    with pytest.raises(ZeroDivisionError, match="a pool thread's group"):
        threads.split(worker_fails, [0, 1])


def _child(queue) -> None:  # in a forked child: the pool it inherited has no threads
    out = [0] * 8

    def work(group):
        for i in group:
            out[i] = i + 1

    threads.split(work, list(range(8)))
    queue.put(out)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
def test_a_forked_child_makes_its_own_pool(count):
    count(2)
    threads.split(lambda g: None, [0, 1])  # the parent's pool exists
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=60) == list(range(1, 9))
    finally:
        child.join(60)
    assert child.exitcode == 0


def _attention_grads(shape, **kw):
    r = np.random.default_rng(0)
    q, k, v, g = (r.standard_normal(shape).astype(np.float32) for _ in range(4))
    ts = [cr.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = cr.nn.functional.scaled_dot_product_attention(*ts, **kw)
    out.backward(g)
    return [out.numpy()] + [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("loops", [True, False], ids=["loops", "numpy"])
@pytest.mark.parametrize("kw", [{"is_causal": True}, {}, {"attn_mask": "bool"}], ids=["causal", "none", "mask"])
def test_attention_split_over_threads_gives_the_same_bits(count, monkeypatch, loops, kw):
    if loops and not kernels.available():
        pytest.skip("Numba is not installed (the `fast` extra): the loops' path does not run")
    if not loops:
        monkeypatch.setattr(kernels, "usable", lambda *a: False)
    shape = (16, 4, 128, 32)  # four chunks of rows (``_chunks``): the GPT bench's layer
    if kw.get("attn_mask") == "bool":
        kw = {"attn_mask": np.random.default_rng(1).random((16, 1, 128, 128)) > 0.3}
    count(1)
    one = _attention_grads(shape, **kw)
    count(3)
    calls = []
    real = threads.split
    monkeypatch.setattr(threads, "split", lambda w, items, p=True: (calls.append((len(items), p)), real(w, items, p)))
    several = _attention_grads(shape, **kw)
    assert calls and all(n > 1 and p for n, p in calls)  # it did split, forward and backward
    for a, b in zip(one, several):
        np.testing.assert_array_equal(a, b)


def test_attention_in_a_compiled_step_stays_on_the_tracing_thread(count, monkeypatch):
    count(2)
    calls = []
    real = threads.split
    monkeypatch.setattr(threads, "split", lambda w, items, p=True: (calls.append(p), real(w, items, p)))
    r = np.random.default_rng(0)
    q = cr.tensor(r.standard_normal((8, 4, 128, 32)).astype(np.float32), requires_grad=True)

    def step(q):
        out = cr.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
        out.sum().backward()
        return out

    fn = cr.compile(step)
    eager = cr.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True).numpy()
    calls.clear()
    fn(q)
    assert calls and not any(calls)  # traced: serial
    np.testing.assert_allclose(fn(q).numpy(), eager, rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not kernels.available(), reason="Numba is not installed (the `fast` extra)")
def test_gelu_split_over_threads_gives_the_same_bits(count):
    r = np.random.default_rng(0)
    x = r.standard_normal((8, 128, 512)).astype(np.float32)  # 512K elements: four spans
    g = r.standard_normal(x.shape).astype(np.float32)

    def run():
        t = cr.tensor(x, requires_grad=True)
        out = cr.nn.functional.gelu(t)
        out.backward(cr.tensor(g))
        return out.numpy(), t.grad.numpy()

    count(1)
    one = run()
    count(2)
    for a, b in zip(one, run()):
        np.testing.assert_array_equal(a, b)
