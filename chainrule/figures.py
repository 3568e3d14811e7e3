"""matplotlib (the ``plot`` extra), drawn off-screen, and figures as PNG files or bytes.

The one place that imports matplotlib: training and the report draw
through it.
"""

from __future__ import annotations

import io
import os
from typing import Any

from .serialization import atomic_write

INSTALL = "matplotlib is not installed (pip install 'chainrule[plot]')"


def pyplot() -> Any | None:
    """``matplotlib.pyplot`` on the off-screen Agg backend, or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def require_pyplot() -> Any:
    """``pyplot()``, or an ImportError that says how to install it."""
    plt = pyplot()
    if plt is None:
        raise ImportError(INSTALL)
    return plt


def png_bytes(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    require_pyplot().close(fig)
    return buf.getvalue()


def save_png(fig: Any, path: str | os.PathLike, dpi: int = 100) -> None:
    """Write the figure as a PNG, atomically; the figure is closed."""
    atomic_write(path, png_bytes(fig, dpi))
