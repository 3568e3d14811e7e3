"""Data: ``torch.utils.data``'s datasets, samplers and ``DataLoader``, the built-in data sets, and
readers for files on disk.

Built in, with no download: the spiral of the course notes' case study and
scikit-learn's bundled 8x8 handwritten digits (scikit-learn is the optional ``data``
extra). Readers for data the user already has: MNIST and Fashion-MNIST IDX files (raw
or gzipped) and CIFAR-10 in both its python and binary versions.

Nothing here executes code from a file. The CIFAR-10 python batches are pickles; they
are read with a restricted unpickler that accepts only the plain types those files hold
(dicts, lists, bytes, ints, NumPy arrays, and latin-1 text turned into bytes) and
refuses anything else by name.
Images come out as float32 in [0, 1], shaped (N, C, H, W); labels as int64.

As ``torch.utils.data`` lays it out: ``dataset.py`` (``Dataset``, ``IterableDataset``,
``TensorDataset``, ``ConcatDataset``, ``ChainDataset``, ``Subset``, ``random_split``, and chainrule's
``ArrayDataset``), ``sampler.py`` (the samplers, and ``epoch_order``), ``dataloader.py``
(``DataLoader``, in the main process or in worker processes), ``_collate.py`` (``default_collate``,
``default_convert``), ``_worker.py`` (what a worker runs; ``get_worker_info``); ``datasets.py`` (the
built-in data), ``readers.py`` (files on disk); and ``stream.py``, an endless stream of random
batches (``RandomStream``) for training without a fixed data set.
Where torch takes a ``torch.Generator``, chainrule takes a seeded NumPy ``Generator``: repeatable,
but not torch's numbers.
"""

from ._collate import default_collate, default_convert
from ._worker import WorkerInfo, get_worker_info
from .dataloader import DataLoader
from .dataset import (
    ArrayDataset,
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    Splits,
    Subset,
    TensorDataset,
    random_split,
)
from .datasets import load_digits, spiral, validation_split
from .readers import RefusedPickle, load_cifar10, load_mnist, read_idx
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
    epoch_order,
)
from .stream import RandomStream

__all__ = ["ArrayDataset", "DataLoader", "Dataset", "RandomStream", "RefusedPickle", "Splits", "epoch_order", "load_cifar10", "load_digits",
           "load_mnist", "read_idx", "spiral", "validation_split",
           "BatchSampler", "ChainDataset", "ConcatDataset", "IterableDataset", "RandomSampler", "Sampler",
           "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler", "WorkerInfo",
           "default_collate", "default_convert", "get_worker_info", "random_split"]  # fmt: skip
