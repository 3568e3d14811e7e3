"""The one random number generator behind initialization, dropout and data shuffling.

Seeding it once (``chainrule.manual_seed``) makes a whole run repeatable, and its state is
plain JSON-able data, so a checkpoint can store it and a resumed run continues the same
random stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Restart chainrule's random stream from ``seed``.

    >>> import chainrule as cr
    >>> cr.manual_seed(3); a = cr.rng.generator().random()
    >>> cr.manual_seed(3); a == cr.rng.generator().random()
    True
    """
    global _generator
    _generator = np.random.default_rng(seed)


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


def uniform(shape: tuple[int, ...]) -> np.ndarray:
    """Draws uniform in [0, 1) from the current generator, e.g. dropout's masks.

    Inside a compiled step (``chainrule.compile``) the draw is an operation of the step,
    made anew at every call.

    >>> manual_seed(0); a = uniform((2,)); manual_seed(0); bool((a == uniform((2,))).all())
    True
    """
    from .compiler.tape import recorded_call

    return recorded_call(_uniform, tuple(shape))


def _uniform(shape: tuple[int, ...]) -> np.ndarray:
    return _generator.random(shape)  # the generator of the moment: manual_seed replaces it
