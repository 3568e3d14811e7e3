"""chainrule.threads: PyTorch's set_num_threads / get_num_threads on BLAS's pool."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import chainrule as cr
from chainrule import threads

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_counts() -> list[int]:
    return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]


def test_the_names_are_pytorchs():
    assert cr.get_num_threads is threads.get_num_threads and cr.set_num_threads is threads.set_num_threads
    assert cr.get_num_threads() == max(_blas_counts(), default=1)


def test_set_num_threads_sets_blas_and_get_reads_it_back():
    before = cr.get_num_threads()
    try:
        cr.set_num_threads(1)
        assert cr.get_num_threads() == 1 and set(_blas_counts()) <= {1}
        cr.set_num_threads(2)
        assert cr.get_num_threads() == 2 and set(_blas_counts()) <= {2}
    finally:
        cr.set_num_threads(before)
    assert cr.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2", None])
def test_a_bad_count_is_refused_before_anything_changes(bad):
    before = cr.get_num_threads()
    with pytest.raises(ValueError, match=r"set_num_threads: expected a positive int, got"):
        cr.set_num_threads(bad)
    assert cr.get_num_threads() == before


def test_the_environment_sets_the_count_before_import():
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", "import chainrule as cr; print(cr.get_num_threads())"],
                         env=env, capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    assert out.stdout.strip() == "1"
