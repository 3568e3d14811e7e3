"""chainrule.allocator: on glibc, importing chainrule keeps the memory a step frees for the next
step (no page faults to take it back), and leaves the allocator alone when told to."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's malloc only: elsewhere chainrule leaves the allocator as it is")  # fmt: skip

# a step's pattern: forty 2 MiB arrays made, used and freed, again and again
STEPS = """
import resource, sys
import numpy as np
import chainrule.allocator as allocator
def step():
    arrays = [np.ones(1 << 19, np.float32) for _ in range(40)]
    return sum(float(a[0]) for a in arrays)
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print(allocator.tune(), (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""


def faults(**env: str) -> tuple[str, float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "CHAINRULE_MALLOC"}
    out = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True, check=True, env={**clean, **env})
    tuned, count = out.stdout.split()
    return tuned, float(count)


def test_a_step_that_remakes_its_arrays_takes_no_page_faults():
    tuned, count = faults()
    assert tuned == "True"
    assert count < 100, f"{count} page faults a step with the thresholds set"


def huge_pages_always() -> bool:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[always]" in f.read()
    except OSError:
        return False


def test_the_users_choice_stands():
    for env in ({"CHAINRULE_MALLOC": "default"}, {"MALLOC_TOP_PAD_": str(128 * 1024)}):
        tuned, count = faults(**env)
        assert tuned == "False"
        if not huge_pages_always():  # (where the kernel backs such blocks with huge pages, far fewer faults)
            # glibc's defaults: 80 MiB freed at the heap's top is trimmed, and faulted back in (20,480 pages)
            assert count > 10_000, (env, count)
