"""The one random number generator behind initialization, dropout and data shuffling.

Seeding it once (``chainrule.manual_seed``) makes a whole run repeatable, and its state is
plain JSON-able data, so a checkpoint can store it and a resumed run continues the same
random stream.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .autograd.grad_mode import replayed

_generator = np.random.default_rng(0)
_gpu_generators: dict[tuple[int, int], Any] = {}  # (seeding, GPU number) -> CuPy generator
_seedings = [0]  # how many manual_seed calls so far
_gpu_lock = threading.Lock()


def manual_seed(seed: int) -> None:
    """Restart chainrule's random stream from ``seed``.

    >>> import chainrule as cr
    >>> cr.manual_seed(3); a = cr.rng.generator().random()
    >>> cr.manual_seed(3); a == cr.rng.generator().random()
    True
    """
    global _generator
    _generator = np.random.default_rng(seed)
    _seedings[0] += 1


def generator() -> np.random.Generator:
    """The current NumPy ``Generator`` (use it, do not keep it: ``manual_seed`` replaces it)."""
    return _generator


def get_state() -> dict[str, Any]:
    """The generator's state as plain data (ints and strings), for checkpoints.

    >>> import chainrule as cr
    >>> s = cr.rng.get_state(); a = cr.rng.generator().random()
    >>> cr.rng.set_state(s); a == cr.rng.generator().random()
    True
    """
    return _generator.bit_generator.state


def set_state(state: dict[str, Any]) -> None:
    """Restore a state from ``get_state``."""
    _generator.bit_generator.state = state


def uniform(shape: tuple[int, ...], like: Any = None) -> Any:
    """Draws uniform in [0, 1) from the current generator, e.g. dropout's masks; on the GPU
    of ``like`` when it is a CuPy array (drawn there, never copied over from the host).

    Inside a compiled step (``chainrule.compile``) the draw is an operation of the step,
    made anew at every call. GPU draws come from one CuPy generator per GPU, seeded from
    this stream when first used after ``manual_seed``: a seeded run repeats on the GPU too,
    but a checkpoint keeps only the host stream's state.

    >>> manual_seed(0); a = uniform((2,)); manual_seed(0); bool((a == uniform((2,))).all())
    True
    """
    if like is not None and type(like) is not np.ndarray and type(like).__module__.startswith("cupy"):
        return _gpu_generator(like).random(tuple(shape), dtype=like.dtype if like.dtype.kind == "f" else np.float64)
    return replayed(_uniform, tuple(shape))  # a compiled step makes the draw anew at each replay


def _gpu_generator(like: Any) -> Any:
    """The CuPy generator of ``like``'s GPU, made (seeded from the host stream) on first use."""
    import cupy  # noqa: PLC0415 - only reached with a CuPy array in hand

    key = (_seedings[0], int(like.device.id))  # after each manual_seed, new GPU generators
    with _gpu_lock:
        found = _gpu_generators.get(key)
        if found is None:
            for old in [k for k in _gpu_generators if k[0] != key[0]]:  # an earlier seeding's, not another GPU's
                del _gpu_generators[old]
            with like.device:
                found = _gpu_generators[key] = cupy.random.default_rng(int(_generator.integers(2**63)))
    return found


def _uniform(shape: tuple[int, ...]) -> np.ndarray:
    return _generator.random(shape)  # the generator of the moment: manual_seed replaces it
