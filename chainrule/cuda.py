"""``torch.cuda``'s questions about GPUs, so ``torch.cuda.is_available()`` runs unchanged.

chainrule runs on a GPU through CuPy (see ``chainrule.devices``); these ask CuPy.

>>> import chainrule as torch
>>> device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
>>> torch.cuda.device_count() >= 0, device.type in ("cuda", "cpu")
(True, True)
"""

from __future__ import annotations

from .devices import cuda_available as is_available
from .devices import cuda_device_count as device_count

__all__ = ["device_count", "is_available"]
