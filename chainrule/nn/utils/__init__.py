"""Helpers around modules, as ``torch.nn.utils``: gradient clipping (``clip_grad.py``),
``summary``, the table of a model's layers (``summary.py``), the parameters as one vector
and back (``convert_parameters.py``), and the sinusoidal positional encoding (``positional.py``)."""

from .clip_grad import clip_grad_norm, clip_grad_norm_, clip_grad_value_
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .positional import sinusoidal_positional_encoding
from .summary import Summary, summary

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "Summary", "summary",
           "sinusoidal_positional_encoding", "parameters_to_vector", "vector_to_parameters"]  # fmt: skip
