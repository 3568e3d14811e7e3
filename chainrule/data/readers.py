"""Readers for data on disk: MNIST and Fashion-MNIST IDX files (raw or gzipped) and CIFAR-10
(python and binary batches). Nothing here executes code from a file; the CIFAR pickles go
through a restricted unpickler."""

from __future__ import annotations

import gzip
import io
import math
import os
import pickle
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import ArrayDataset, Splits

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
