"""The compiled step: trace a function once, replay it as generated NumPy code.

``chainrule.compile(step)`` runs ``step`` once with its arrays traced (``tape``): every
array operation of every gate's forward and backward and of the optimizer's update is
written down as one line of a flat tape, grouped by the gate it belongs to. ``codegen``
drops what the results do not need and writes the rest out as a Python function of
NumPy calls - the CS231n layers file for your own model, backward in chain-rule order -
which is what later calls run (``step.py``: the cache by shapes and dtypes, the state
bound by where it lives, the guards that make it trace again). ``step.source()`` shows
the code. Value-dependent Python control flow cannot be traced and is refused.
"""

from .step import Compiled, Trace, compile
from .tape import TraceError

__all__ = ["Compiled", "Trace", "TraceError", "compile"]
