"""Data: ``Dataset``/``DataLoader``, the built-in data sets, and readers for files on disk.

Built in, with no download: the spiral of the course notes' case study and
scikit-learn's bundled 8x8 handwritten digits (scikit-learn is the optional ``data``
extra). Readers for data the user already has: MNIST and Fashion-MNIST IDX files (raw
or gzipped) and CIFAR-10 in both its python and binary versions.

Nothing here executes code from a file. The CIFAR-10 python batches are pickles; they
are read with a restricted unpickler that accepts only the plain types those files hold
(dicts, lists, bytes, ints, NumPy arrays, and latin-1 text turned into bytes) and
refuses anything else by name.
Images come out as float32 in [0, 1], shaped (N, C, H, W); labels as int64.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import pickle
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import rng
from .engine import Tensor


class Dataset:
    """Anything with ``len(ds)`` and ``ds[i] -> (x, y)``."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        raise NotImplementedError


class ArrayDataset(Dataset):
    """Examples ``x[i]`` with labels ``y[i]``, held as two arrays.

    >>> ds = ArrayDataset(np.zeros((5, 2)), np.arange(5))
    >>> len(ds), int(ds[3][1])
    (5, 3)
    """

    def __init__(self, x: Any, y: Any) -> None:
        x, y = np.asarray(x), np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"ArrayDataset: {len(x)} examples but {len(y)} labels; expected as many of each")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: Any) -> tuple[Any, Any]:
        return self.x[i], self.y[i]

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1 if len(self.y) else 0


class Splits(NamedTuple):
    train: ArrayDataset
    test: ArrayDataset


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The order of ``n`` examples in ``epoch``: a permutation that depends only on (seed, epoch).

    ``DataLoader`` and ``distributed.DistributedSampler`` both take it, so the ranks of a
    distributed run split exactly the order one process would see.

    >>> epoch_order(5, seed=0, epoch=1).tolist() == epoch_order(5, seed=0, epoch=1).tolist()
    True
    """
    return np.random.default_rng((seed, epoch)).permutation(n) if shuffle else np.arange(n)


class DataLoader:
    """Batches of (x, y) Tensors, reshuffled every epoch from a seed.

    The order of epoch e depends only on (seed, e), so a resumed run that calls
    ``set_epoch(e)`` sees exactly the batches an uninterrupted one would.

    >>> ds = ArrayDataset(np.arange(10.0).reshape(5, 2), np.arange(5))
    >>> [y.numpy().tolist() for _, y in DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    >>> len(DataLoader(ds, batch_size=2, drop_last=True))
    2
    """

    def __init__(self, dataset: Dataset, batch_size: int = 32, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, sampler: Any = None) -> None:  # fmt: skip
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size={batch_size!r}; expected an int >= 1")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.sampler = sampler  # ``indices(epoch)`` and ``len``: which examples, in which order (distributed shards)
        self.seed = int(rng.generator().integers(2**31)) if seed is None else seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.dataset)
        if self.sampler is not None:
            order = self.sampler.indices(self.epoch)
        else:
            order = epoch_order(n, self.seed, self.epoch, self.shuffle)
        self.epoch += 1
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start : start + self.batch_size]
            if isinstance(self.dataset, ArrayDataset):
                x, y = self.dataset.x[idx], self.dataset.y[idx]  # one fancy index per batch
            else:
                items = [self.dataset[int(i)] for i in idx]
                x, y = np.stack([np.asarray(a) for a, _ in items]), np.asarray([b for _, b in items])
            yield Tensor(x), Tensor(y)


# -- built-in data ---------------------------------------------------------------------


def spiral(n_per_class: int = 100, classes: int = 3, noise: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The course notes' spiral: ``classes`` arms of ``n_per_class`` 2-D points, not linearly separable.

    Arm j has radius going 0 -> 1 and angle going 4j -> 4(j+1) plus N(0, noise^2) jitter.

    >>> x, y = spiral()
    >>> x.shape, y.shape, np.bincount(y).tolist()
    ((300, 2), (300,), [100, 100, 100])
    """
    g = np.random.default_rng(seed)
    xs, ys = [], []
    for j in range(classes):
        r = np.linspace(0.0, 1, n_per_class)
        t = np.linspace(j * 4, (j + 1) * 4, n_per_class) + g.standard_normal(n_per_class) * noise
        xs.append(np.c_[r * np.sin(t), r * np.cos(t)])
        ys.append(np.full(n_per_class, j))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> Splits:
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(len(x) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return Splits(ArrayDataset(x[train], y[train]), ArrayDataset(x[test], y[test]))


def validation_split(dataset: ArrayDataset, fraction: float, seed: int = 0) -> tuple[ArrayDataset, ArrayDataset]:
    """(train, validation): ``fraction`` of each class, chosen by ``seed``, held out for validation.

    Carved from the *training* data, so model choices made on validation numbers never
    see the test split. Per class, so a small data set's validation set keeps its mix.

    >>> ds = ArrayDataset(np.arange(20.0).reshape(10, 2), np.array([0, 1] * 5))
    >>> train, val = validation_split(ds, 0.2, seed=0)
    >>> len(train), len(val), sorted(val.y.tolist())
    (8, 2, [0, 1])
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation_split: fraction {fraction} is not between 0 and 1 (exclusive)")
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(dataset.y):
        members = np.flatnonzero(dataset.y == c)
        val.append(rng.permutation(members)[: round(len(members) * fraction)])
    held = np.zeros(len(dataset.y), dtype=bool)
    held[np.concatenate(val)] = True
    if held.all() or not held.any():
        raise ValueError(f"validation_split: {len(dataset.y)} examples with fraction {fraction} leave "
                         f"{int((~held).sum())} for training and {int(held.sum())} for validation; expected both > 0")
    return (ArrayDataset(dataset.x[~held], dataset.y[~held]),
            ArrayDataset(dataset.x[held], dataset.y[held]))  # fmt: skip


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Splits:
    """scikit-learn's 1,797 handwritten digits (8x8, bundled with it: no download), split in two.

    Images are (N, 1, 8, 8) in [0, 1]; ``test_fraction`` of them (chosen by ``seed``)
    are held out.
    """
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError as e:
        raise ImportError("digits: scikit-learn is not installed; install it with pip install 'chainrule[data]'") from e
    d = sk_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    return _split(x, d.target.astype(np.int64), test_fraction, seed)


# -- MNIST / Fashion-MNIST ------------------------------------------------------------------

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_MAX_AXES = 8
_DEFLATE_RATIO = 1032  # deflate's best compression is about 1032:1: a gzip file cannot hold more
_CHUNK = 1 << 20


def _read_exactly(f: Any, n: int, path: Path, what: str) -> bytes:
    """``n`` bytes from ``f``, a chunk at a time (memory grows with the data actually there)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            raise ValueError(f"{path}: truncated IDX {what}: {len(buf)} bytes; expected {n}")
        buf += chunk
    return bytes(buf)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (the MNIST format), raw or gzipped, into an array.

    The header is two zero bytes, a type code, the number of axes, then one big-endian
    int32 per axis; the data follow. The reader allocates no more than the header
    declares, and the header may declare no more than the file can hold (its size, or
    the most a gzip stream of that size can inflate to); a stream that inflates past the
    declared size is refused unread. Anything else is an error naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    size = path.stat().st_size
    packed = path.suffix == ".gz"
    try:
        with gzip.open(path, "rb") if packed else open(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES:
                raise ValueError(f"{path}: not an IDX file (bad magic number {magic.hex() or 'none'})")
            ndim = magic[3]
            if not 1 <= ndim <= _IDX_MAX_AXES:
                raise ValueError(f"{path}: IDX header declares {ndim} axes; expected 1 to {_IDX_MAX_AXES}")
            shape = struct.unpack(f">{ndim}i", _read_exactly(f, 4 * ndim, path, "header"))
            if min(shape) < 0:
                raise ValueError(f"{path}: IDX header declares a negative size in shape {shape}")
            dtype = np.dtype(_IDX_TYPES[magic[2]])
            need = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
            header = 4 + 4 * ndim
            room = size * _DEFLATE_RATIO if packed else size - header
            if need > room or (not packed and need != room):
                raise ValueError(f"{path}: truncated or oversized IDX data: the header declares shape {shape} "
                                 f"({need} bytes); the file {'can hold at most' if packed else 'holds'} {room}")  # fmt: skip
            body = _read_exactly(f, need, path, "data")
            if f.read(1):
                raise ValueError(f"{path}: more data than the IDX header declares for shape {shape}; refused")
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: not a valid gzip file ({e})") from e
    return np.frombuffer(body, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder}: missing {stem} (or {stem}.gz); expected the four MNIST IDX files there")


def load_mnist(folder: str | os.PathLike) -> Splits:
    """MNIST or Fashion-MNIST from a folder holding the four IDX files (raw or .gz)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    parts = []
    for prefix in ("train", "t10k"):
        images_path, labels_path = _find(folder, f"{prefix}-images-idx3-ubyte"), _find(folder, f"{prefix}-labels-idx1-ubyte")
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"{images_path}: holds {images.dtype} of shape {images.shape}; expected uint8 images (N, H, W)")
        if parts and images.shape[1:] != parts[0].x.shape[2:]:
            raise ValueError(f"{images_path}: images of {images.shape[1:]} pixels, but the training images have "
                             f"{parts[0].x.shape[2:]}; expected both splits alike")  # fmt: skip
        if labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{images_path}: {images.shape} images do not match {labels_path}'s {labels.shape} labels")
        _check_labels(labels, labels_path, 10)
        parts.append(ArrayDataset((images / 255.0).astype(np.float32)[:, None], labels.astype(np.int64)))
    return Splits(*parts)


def _check_labels(labels: np.ndarray, path: Path, classes: int) -> None:
    """Labels must be integers in 0..classes-1, named by file when they are not."""
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{path}: labels are {labels.dtype}; expected integers 0..{classes - 1}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"{path}: labels outside 0..{classes - 1} (found {labels.min()}..{labels.max()})")


# -- CIFAR-10 -------------------------------------------------------------------------------

_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]  # numpy's array rebuilder, wherever this NumPy keeps it


def _empty_array(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """NumPy's pickles make an empty array first and fill it from the file's bytes (which
    ``__setstate__`` checks against the shape); any other use would allocate at the
    pickle's word, so it is refused."""
    if subtype is not np.ndarray or tuple(shape) != (0,):
        raise RefusedPickle(f"refused an array rebuilt as {getattr(subtype, '__name__', subtype)} of shape {shape!r}; "
                            "expected numpy's own (0,)-shaped start, filled from the file's bytes")  # fmt: skip
    return _RECONSTRUCT(subtype, shape, dtype)


def _plain_dtype(spec: Any, align: bool = False, copy: bool = False) -> np.dtype:
    """numpy.dtype, for numbers only: an object dtype would let the pickle place objects in arrays."""
    dt = np.dtype(spec, align, copy) if isinstance(spec, (str, bytes)) else None
    if dt is None or dt.kind not in "biuf":
        raise RefusedPickle(f"refused dtype {spec!r}; expected a numeric dtype")
    return dt


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    """Protocol-2 pickles written by Python 3 spell bytes as _codecs.encode(text, 'latin1')."""
    if encoding not in ("latin1", "latin-1"):
        raise RefusedPickle(f"refused _codecs.encode with encoding {encoding!r}; expected latin1")
    return text.encode("latin1")


_SAFE_GLOBALS = {
    ("_codecs", "encode"): _latin1,
    ("numpy.core.multiarray", "_reconstruct"): _empty_array,
    ("numpy._core.multiarray", "_reconstruct"): _empty_array,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _plain_dtype,
}


class RefusedPickle(pickle.UnpicklingError):
    """A pickle asked for something other than plain data; nothing was called."""


class _PlainUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers and NumPy arrays: no other callable."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]
        raise RefusedPickle(
            f"{self.path}: refused to load {module}.{name}; a CIFAR-10 batch holds only dicts, lists, bytes and arrays"
        )


def _scan_pickle(raw: bytes, path: Path) -> None:
    """Refuse opcodes that make the unpickler allocate at the pickle's word before any
    object is built: a memo slot or a frame larger than the whole file."""
    import pickletools

    for op, arg, _ in pickletools.genops(raw):
        if op.name in ("PUT", "BINPUT", "LONG_BINPUT", "FRAME") and int(arg) > len(raw):
            raise RefusedPickle(f"{path}: refused {op.name} {arg}, more than the file's {len(raw)} bytes could need")


def _cifar_python_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        raw = path.read_bytes()
        _scan_pickle(raw, path)
        batch = _PlainUnpickler(io.BytesIO(raw), path).load()
    except RefusedPickle as e:
        if str(path) in str(e):
            raise
        raise RefusedPickle(f"{path}: {e}") from e
    except Exception as e:  # a truncated pickle raises EOFError, UnpicklingError, ValueError, ...
        raise ValueError(f"{path}: not a readable CIFAR-10 python batch ({type(e).__name__}: {e})") from e
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: holds a {type(batch).__name__}; expected a dict with data and labels")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(f"{path}: 'data' is not a uint8 array of shape (N, 3072)")
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(data):
        raise ValueError(f"{path}: 'labels' missing or not one per image ({len(data)} images)")
    if isinstance(labels, list) and not all(type(v) is int for v in labels):
        raise ValueError(f"{path}: 'labels' holds something other than integers; expected integers 0..9")
    labels = np.asarray(labels) if labels else np.zeros(0, np.int64)
    _check_labels(labels, path, 10)
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _cifar_binary_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % 3073:
        raise ValueError(f"{path}: {raw.size} bytes is not a whole number of 3073-byte CIFAR-10 records (truncated?)")
    rec = raw.reshape(-1, 3073)
    _check_labels(rec[:, 0], path, 10)
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0].astype(np.int64)


def load_cifar10(folder: str | os.PathLike) -> Splits:
    """CIFAR-10 from the python version (``data_batch_1`` ... ``test_batch``) or the binary one (``*.bin``).

    ``folder`` may be the batches folder itself or the folder above it
    (``cifar-10-batches-py`` / ``cifar-10-batches-bin``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    for sub in ("", "cifar-10-batches-py", "cifar-10-batches-bin"):
        d = folder / sub
        if (d / "data_batch_1").is_file():
            read, suffix = _cifar_python_batch, ""
            break
        if (d / "data_batch_1.bin").is_file():
            read, suffix = _cifar_binary_batch, ".bin"
            break
    else:
        raise FileNotFoundError(f"{folder}: no CIFAR-10 batches (data_batch_1 or data_batch_1.bin) here or in cifar-10-batches-py/-bin")
    parts = []
    for names in ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"]):
        xs, ys = [], []
        for name in names:
            path = d / (name + suffix)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing; expected data_batch_1..5 and test_batch{suffix}")
            x, y = read(path)
            xs.append(x)
            ys.append(y)
        parts.append(ArrayDataset((np.concatenate(xs) / 255.0).astype(np.float32), np.concatenate(ys)))
    return Splits(*parts)
