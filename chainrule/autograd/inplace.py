"""In-place writes and the graph: a write clock, write protection, and the writers' one door.

A gate saves arrays in its forward that its backward reads again; changing one in
between would make the gradient silently wrong. Two small pieces make every such change
an error instead:

- **A write clock** (PyTorch's version counters, made cheaper). Every in-place write made
  through the library (``write_in_place``: optimizer steps, ``nn.init``,
  ``load_state_dict``, ``load``, ``load_checkpoint``) or through ``t.data op= ...`` ticks
  one clock and stamps the tensor. A gate notes the clock when it saves its values;
  before its backward runs the engine compares (one integer compare per gate) and, only
  if the clock moved, checks whether a tensor it saved was stamped since
  (``engine._check_writes``); if so it raises an error naming the gate, the input and
  the writer.
- **Write protection for leaves.** A leaf's array (a parameter, an input) that a gate
  saved is read-only (NumPy's ``writeable`` flag) until every gate that holds it lets go:
  freed by ``backward()``, or collected with its graph. So a write the library cannot
  see - ``x.data[...] = 100``, ``np.copyto(x.data, ...)``, ``np.add(..., out=x.data)`` -
  fails at the writer's own line with NumPy's "assignment destination is read-only".

Not detected: item writes into the array of a tensor that a gate computed
(``h.data[0] = 1`` for ``h = W @ x``; ``h.data += 1`` is), writes through a view of a
leaf's array taken before the forward, and raw writes to CuPy arrays, which have no
read-only flag (library writes to them are still counted).

>>> import chainrule as cr
>>> w = cr.Tensor([1.0, 2.0], requires_grad=True)
>>> loss = (w * w).sum()
>>> w.data[0] = 5.0
Traceback (most recent call last):
...
ValueError: assignment destination is read-only
>>> opt = cr.optim.SGD([w], lr=0.1)
>>> w.grad = cr.Tensor([1.0, 1.0]); opt.step()       # a step before the backward
>>> loss.backward()
Traceback (most recent call last):
...
RuntimeError: backward: Mul saved input 0 (shape (2,)) in the forward, and it was then changed in place by SGD.step, so its gradient would be wrong; run the forward again after the change, or make the change after backward()
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np


class Hold:
    """One gate's hold on the leaves' arrays it saved: while any hold on an array exists,
    the array is read-only.

    A gate keeps its hold with its saved values; when it lets go (freed by backward, or
    collected with its graph) the last hold on each array makes it writable again.
    """

    __slots__ = ("arrays",)

    def __init__(self, arrays: list[np.ndarray]) -> None:
        self.arrays = arrays

    def __del__(self) -> None:
        with _lock:
            for a in self.arrays:
                n = _holds[id(a)] - 1
                if n:
                    _holds[id(a)] = n
                    continue
                del _holds[id(a)]
                try:
                    a.setflags(write=True)
                except ValueError:  # its base was made read-only meanwhile: leave it so
                    pass


# id(array) -> how many holds make it read-only (each Hold keeps its arrays alive, so the
# ids stay unique). Guarded: threads may save the same parameter at once; re-entrant, since
# a hold can be collected while this thread is inside.
_holds: dict[int, int] = {}
_lock = threading.RLock()


def protect(arrays: list[Any]) -> Hold | None:
    """One hold that keeps ``arrays`` read-only for a gate that saved them (None when there
    is nothing to protect: CuPy arrays, or arrays that were read-only already). One call
    per gate: the lock and the hold are paid once, however many leaves it saved."""
    held = []
    with _lock:
        for array in arrays:
            if type(array) is not np.ndarray:
                continue
            n = _holds.get(id(array), 0)
            if array.flags.writeable:  # (also after write_in_place lifted it for a writer)
                array.setflags(write=False)
            elif n == 0:
                continue
            _holds[id(array)] = n + 1
            held.append(array)
    return Hold(held) if held else None


# The write clock: every in-place write the library sees ticks it and stamps the tensor
# written. A gate notes the clock when it saves its values; before its backward the engine
# compares (one integer compare per gate) and, only if the clock moved, looks at which saved
# tensors were written since.
_clock = [0]


def record_write(t: Any, who: str) -> None:
    """Note that ``who`` changed ``t``'s array in place now."""
    with _lock:
        _clock[0] += 1
        t._written_at = _clock[0]
    t._writer = who


def write_in_place(t: Any, who: str) -> Any:
    """``t``'s array, for ``who`` to change in place: the door the library's writers use.

    The write ticks the write clock and stamps ``t``, so a gate that saved ``t`` refuses
    its backward and names ``who``; the graph's write protection of the array is lifted for it.

    >>> import chainrule as cr
    >>> t = cr.Tensor([1.0, 2.0])
    >>> write_in_place(t, "my_update")[...] = 0.0
    >>> t._writer
    'my_update'
    """
    record_write(t, who)
    array = t._data
    if type(array) is np.ndarray and not array.flags.writeable:
        with _lock:
            if id(array) in _holds:  # the write clock guards the gates that hold it now
                array.setflags(write=True)
    return array
