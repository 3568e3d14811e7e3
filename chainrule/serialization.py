"""Saving weights and checkpoints as safetensors: plain arrays and a JSON header, never a pickle.

Every file is written atomically (a temporary file in the same folder, flushed, then
renamed over the target), so an interrupted save leaves the previous file intact.
A checkpoint is one safetensors file: the model's arrays under ``model.``, the
optimizer's under ``optim.<i>.``, and in its metadata (JSON strings) the epoch, the
optimizer's hyperparameters and step counts, the scheduler, and chainrule's RNG state.
``save``/``load`` also take what ``torch.save`` users write, checkpoint dicts of dicts, lists
and tuples of Tensors, arrays and plain values, with the structure as JSON in the metadata.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import backend, devices, rng
from .autograd.tensor import Tensor
from .nn.modules.module import Module


def atomic_write(path: str | os.PathLike, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode(path))  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(path: str | os.PathLike, rows: list[dict[str, Any]], fieldnames: list[str]) -> None:
    """Rows (dicts) under a header line, as CSV, written atomically."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fieldnames)
    w.writeheader()
    w.writerows(rows)
    atomic_write(path, buf.getvalue().encode())


def _mode(path: Path) -> int:
    """The replaced file's permissions, or what a new file gets under the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _encode(arrays: dict[str, Any], metadata: dict[str, Any]) -> bytes:
    """safetensors bytes with ``metadata`` (JSON values) and a checksum of the tensors, made
    reproducible: the same state gives the same bytes, so runs can be compared by hash."""
    from safetensors.numpy import save

    # np.ascontiguousarray makes a 0-d array 1-d: the reshape keeps a scalar tensor's shape ()
    arrays = {k: np.ascontiguousarray(v).reshape(np.shape(v)) for k, v in arrays.items()}
    meta = {k: json.dumps(v, sort_keys=True) for k, v in metadata.items()}
    meta[CHECKSUM] = json.dumps(checksum(arrays))
    raw = save(arrays, metadata=meta)
    # safetensors writes the metadata in hash order, which changes from one process to the next
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # the data stay 8-byte aligned, as safetensors keeps them
    return len(text).to_bytes(8, "little") + text + raw[8 + n :]


CHECKSUM = "checksum"  # metadata key: "sha256:<hex>" over every tensor's name, dtype, shape and bytes
# the dtypes NumPy can hold; safetensors files from elsewhere may also carry BF16 and F8 kinds
_DTYPES = {"BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64", "F16", "F32", "F64"}


def checksum(arrays: dict[str, Any]) -> str:
    """One hash of a dict of arrays, independent of its order.

    >>> checksum({"a": np.zeros(2)}) == checksum({"a": np.zeros(2)}) != checksum({"a": np.ones(2)})
    True
    """
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.data if a.size else b"")
    return "sha256:" + h.hexdigest()


def _read(path: str | os.PathLike, arrays: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The file's arrays (skipped when ``arrays=False``: the header alone is read) and its
    metadata, decoded from JSON. Unsupported dtypes are refused before any tensor is read;
    a file with a checksum is verified."""
    tensors, meta, _ = _open(path, arrays)
    return tensors, meta


def _open(path: str | os.PathLike, arrays: bool) -> tuple[dict[str, np.ndarray], dict[str, Any], dict[str, tuple]]:
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="numpy") as f:
            shapes = {}
            for k in f.keys():  # noqa: SIM118
                sl = f.get_slice(k)
                if sl.get_dtype() not in _DTYPES:
                    raise ValueError(f"tensor {k!r} has dtype {sl.get_dtype()}, which NumPy cannot hold; "
                                     "expected F16/F32/F64, integers or BOOL (convert it before saving)")  # fmt: skip
                shapes[k] = tuple(sl.get_shape())
            tensors = {k: f.get_tensor(k) for k in shapes} if arrays else {}
            meta = dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from e
    meta = {k: _metadata_value(k, v, path) for k, v in meta.items()}
    stored = meta.pop(CHECKSUM, None)
    if arrays and stored is not None and checksum(tensors) != stored:
        raise ValueError(f"{path}: the tensors do not match the file's checksum (a flipped bit, or a damaged "
                         "copy); refused rather than trained on")  # fmt: skip
    return tensors, meta, shapes


def _metadata_value(key: str, text: str, path: Any) -> Any:
    """A metadata value: JSON as ``save`` writes it, or, from another tool (PyTorch's and Hugging
    Face's files carry ``{"format": "pt"}``), the plain string. chainrule's own keys must be JSON."""
    try:
        return json.loads(text)
    except ValueError as e:  # (a nesting bomb's RecursionError goes on to the reader's own message)
        if key in (CHECKSUM, OBJECT):
            raise ValueError(f"{path}: metadata {key!r} is not JSON ({e})") from None
        return text


def load_header(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    """The metadata and each tensor's shape, from the header alone (nothing is allocated for the data)."""
    _, meta, shapes = _open(path, arrays=False)
    return meta, shapes


def save(obj: Any, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
    """Write ``obj`` as one safetensors file, as ``torch.save`` would but with no pickle.

    ``obj`` is a module (its ``state_dict``), a dict of arrays, or a checkpoint built of dicts
    (str or int keys), lists and tuples holding Tensors, NumPy arrays of numbers or bools,
    ints, floats (NaN and the infinities too), bools, None and str, up to 64 levels deep. A
    flat dict of str to arrays is stored as it always was: a plain state_dict file that any
    safetensors reader opens. Anything else stores its arrays as tensors named by their place
    (``optim.state.0.exp_avg``) and its structure as JSON in the metadata under
    ``"chainrule.object"``, beside an empty marker tensor of that name, with a sha256 over
    both. ``load`` gives back the same structure: Tensors as Tensors (dtype and
    ``requires_grad`` kept; a Parameter as a Tensor), arrays as NumPy arrays, tuples as
    tuples, int keys as ints, NumPy scalars as Python numbers (``.item()``). Functions, other
    objects and arrays of objects, strings or complex numbers raise TypeError naming their
    place, e.g. ``obj["optim"]["fn"]``. ``metadata`` values are stored as JSON text in the
    file's header. The write is atomic.

    >>> import chainrule as cr, tempfile, os
    >>> net = cr.nn.Linear(2, 3)
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> cr.save(net, path, metadata={"model": "linear"})
    >>> other = cr.load(path, cr.nn.Linear(2, 3))
    >>> bool((other.weight.numpy() == net.weight.numpy()).all()), cr.load_metadata(path)["model"]
    (True, 'linear')
    >>> cr.save({"model": net.state_dict(), "state": {0: {"step": cr.Tensor(2.0)}}, "losses": (0.5, float("nan"))}, path)
    >>> back = cr.load(path)
    >>> back["state"][0]["step"], back["losses"], sorted(back["model"])
    (Tensor(2., dtype=float32), (0.5, nan), ['bias', 'weight'])
    """
    if isinstance(obj, Module):
        obj = obj.state_dict()
    meta = dict(metadata or {})
    reserved = sorted({CHECKSUM, OBJECT} & set(meta))
    if reserved:
        raise ValueError(f"save: metadata keys {reserved} are the file's own; choose other names")
    if _plain(obj):
        arrays = {k: np.asarray(backend.to_numpy(v), dtype=v.dtype.newbyteorder("=")) for k, v in obj.items()}
    else:
        packer = _Packer()
        root = packer.node(obj, ())
        arrays = packer.arrays
        meta[OBJECT] = {"version": 1, "root": root, "sha256": _digest(root, arrays)}
    atomic_write(path, _encode(arrays, meta))


def load(path: str | os.PathLike, module: Module | None = None, device: Any = None, *,
         map_location: Any = None, weights_only: bool | None = None) -> Any:  # fmt: skip
    """Read a file that ``save`` wrote (or any safetensors file): the saved object, or
    ``module`` filled from it and returned (each value lands on the device of the parameter
    it fills).

    Without a module: a plain file gives a dict of NumPy arrays, a checkpoint its structure
    (see ``save``); ``device`` ("cuda", "cuda:1") puts every array and Tensor on that device.
    ``map_location`` is ``torch.load``'s name for ``device`` (a device name only: there are no
    storages to remap with a dict or a function). ``weights_only`` is accepted and ignored:
    nothing here is ever unpickled and no code runs on load, so every file is read the way
    torch reads one with ``weights_only=True``. A damaged or hostile file raises ValueError
    naming it.

    >>> import chainrule as cr, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> cr.save({"epoch": 3, "w": cr.Tensor([1.0, 2.0], requires_grad=True)}, path)
    >>> ckpt = cr.load(path, map_location="cpu", weights_only=True)
    >>> ckpt["epoch"], ckpt["w"].requires_grad
    (3, True)
    """
    device = _load_device(module, device, map_location, weights_only)
    arrays, meta = _read_named(path)
    target = device if module is None else None  # into a module, each value goes where its parameter is
    if OBJECT in arrays:
        obj = _unpack(path, arrays, meta.get(OBJECT), target)
    else:
        obj = arrays if target is None else {k: devices.move(v, target, "load") for k, v in arrays.items()}
    if module is None:
        return obj
    try:
        module.load_state_dict(_state_dict_of(obj))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    return module


OBJECT = "chainrule.object"  # metadata key of a saved object's structure, and the name of its marker tensor
# The marker (an empty uint8 tensor) puts the fact "this file holds a structure" under the
# tensors' checksum: a damaged metadata key cannot turn a checkpoint into a plain dict of arrays.
_MAX_DEPTH = 64  # dicts, lists and tuples inside one another, on save and on load (a nesting bomb stops here)


def _storable(dtype: np.dtype) -> bool:
    """Whether safetensors holds this dtype (in either byte order): bools, integers, float16/32/64."""
    return dtype.kind in "biuf" and dtype.itemsize <= 8


def _plain(obj: Any) -> bool:
    """A flat dict of str to arrays: saved as it always was, a state_dict file any reader opens."""
    return isinstance(obj, dict) and all(
        isinstance(k, str) and k not in (OBJECT, "__metadata__") and _utf8(k)
        and backend.is_array(v) and not isinstance(v, np.ma.MaskedArray) and _storable(v.dtype)
        for k, v in obj.items()
    )  # fmt: skip


def _utf8(name: str) -> bool:
    """Whether ``name`` can be a tensor's name (safetensors writes names as UTF-8; a lone surrogate cannot be)."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def _where(path: tuple) -> str:
    """A place inside a saved object, as Python code would name it: ``obj["optim"]["state"][0]``."""
    return "obj" + "".join(f"[{json.dumps(k, ensure_ascii=False)}]" if isinstance(k, str) else f"[{k}]" for k in path)


def _digest(root: Any, arrays: dict[str, np.ndarray]) -> str:
    """sha256 over a structure (canonical JSON) and every tensor: the file's checksum covers the
    tensors only, and a checkpoint's metadata is as much its content as its arrays."""
    text = json.dumps({"version": 1, "root": root}, sort_keys=True, separators=(",", ":"), allow_nan=False)
    shapes = json.dumps(sorted([k, list(np.shape(a))] for k, a in arrays.items()))  # checksum() sees () as (1,)
    return "sha256:" + hashlib.sha256(f"{text}\0{shapes}\0{checksum(arrays)}".encode()).hexdigest()


class _Packer:
    """An object as JSON nodes and a dict of arrays, refusing (by place) what a file cannot hold.

    Nodes: JSON null/bool/int/str/float as themselves; ``{"float": "nan"}`` (or "inf",
    "-inf"); ``{"dict": [[key, node], ...]}`` (keys str or int, in order); ``{"list": [...]}``;
    ``{"tuple": [...]}``; ``{"array": name}``; ``{"tensor": name, "requires_grad": bool}``.
    """

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {OBJECT: np.zeros(0, np.uint8)}
        self.inside: set[int] = set()  # ids of the containers being walked: one that holds itself is refused

    def node(self, x: Any, path: tuple) -> Any:
        if isinstance(x, np.generic):  # a NumPy scalar comes back as the Python number it holds
            if not _storable(x.dtype):
                raise TypeError(f"save: {_where(path)} is a NumPy {x.dtype} scalar; expected bools, integers or "
                                "float16/32/64 (safetensors holds no objects, strings or complex numbers)")  # fmt: skip
            x = x.item()
        if x is None or type(x) is bool:
            return x
        if isinstance(x, str):
            return str(x)
        if isinstance(x, int):
            try:
                str(x)  # JSON text: Python reads ints of at most sys.get_int_max_str_digits() digits
            except ValueError:
                raise ValueError(f"save: {_where(path)} is an int of {x.bit_length()} bits, too long to store as "
                                 "text; expected at most 4300 digits") from None  # fmt: skip
            return int(x)
        if isinstance(x, float):
            return float(x) if math.isfinite(x) else {"float": repr(float(x))}  # JSON has no NaN: "nan", "inf", "-inf"
        if isinstance(x, Tensor):
            return {"tensor": self.array(x.numpy(), path), "requires_grad": bool(x.requires_grad)}
        if backend.is_array(x):
            return {"array": self.array(x, path)}
        if isinstance(x, (dict, list, tuple)):
            return self.container(x, path)
        hint = "; save its state_dict() instead" if callable(getattr(x, "state_dict", None)) else ""
        raise TypeError(f"save: {_where(path)} is a {type(x).__name__}, which a file cannot hold without pickle{hint}; "
                        "expected Tensors, NumPy arrays of numbers or bools, int, float, bool, None, str, and dicts "
                        "(str or int keys), lists and tuples of these")  # fmt: skip

    def container(self, x: dict | list | tuple, path: tuple) -> dict[str, list]:
        if len(path) >= _MAX_DEPTH:
            raise ValueError(f"save: {_where(path)[:200]}... nests dicts, lists and tuples more than {_MAX_DEPTH} deep")
        if id(x) in self.inside:
            raise ValueError(f"save: {_where(path)} is a {type(x).__name__} that holds itself; expected a tree")
        self.inside.add(id(x))
        try:
            if isinstance(x, dict):
                return {"dict": [[self.key(k, path), self.node(v, (*path, k))] for k, v in x.items()]}
            return {"tuple" if isinstance(x, tuple) else "list": [self.node(v, (*path, i)) for i, v in enumerate(x)]}
        finally:
            self.inside.discard(id(x))

    def key(self, k: Any, path: tuple) -> str | int:
        if isinstance(k, str):
            return str(k)
        if isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
            return int(k)
        raise TypeError(f"save: {_where(path)} has the key {k!r} ({type(k).__name__}); expected str or int keys")

    def array(self, a: Any, path: tuple) -> str:
        """Store ``a`` under a name made from its place (a free one), and return that name."""
        if isinstance(a, np.ma.MaskedArray):
            raise TypeError(f"save: {_where(path)} is a masked array; save its .data and .mask as two arrays")
        a = backend.to_numpy(a)
        if not _storable(a.dtype):
            raise TypeError(f"save: {_where(path)} is an array of dtype {a.dtype}; expected bools, integers or "
                            "float16/32/64 (safetensors holds no objects, strings or complex numbers)")  # fmt: skip
        base = ".".join(str(k) for k in path) or "tensor"
        base = base if _utf8(base) else "tensor"
        name, n = base, 0
        while name in self.arrays or name == "__metadata__":
            n += 1
            name = f"{base}~{n}"
        self.arrays[name] = np.asarray(a, dtype=a.dtype.newbyteorder("="))  # big-endian data stored as native
        return name


class _Unpacker:
    """Rebuilds a saved object from a file's JSON structure and its tensors, trusting neither:
    every node's shape and type, every reference (to a tensor the file holds, used once), the
    depth, and last the sha256 over the structure and the tensors."""

    def __init__(self, arrays: dict[str, np.ndarray], device: Any) -> None:
        self.arrays, self.device = arrays, device
        self.unused = set(arrays) - {OBJECT}

    def run(self, body: Any) -> Any:
        if not isinstance(body, dict) or sorted(body) != ["root", "sha256", "version"] or type(body["version"]) is not int:
            raise ValueError(f"the {OBJECT!r} metadata is not a saved object's structure (expected version, root "
                             "and sha256)")  # fmt: skip
        if body["version"] != 1:
            raise ValueError(f"the object is stored in format version {body['version']}; this chainrule reads version 1")
        obj = self.node(body["root"], 0)
        if self.unused:
            raise ValueError(f"tensors {sorted(self.unused)[:3]} belong to nothing in the stored structure")
        try:
            digest = _digest(body["root"], self.arrays)
        except ValueError:  # a bare NaN or Infinity in the JSON (save writes {"float": "nan"}): not a file save wrote
            digest = None
        if body["sha256"] != digest:
            raise ValueError("the structure and tensors do not match the object's sha256 (a damaged or edited "
                             "file); refused rather than trained on")  # fmt: skip
        return obj

    def node(self, n: Any, depth: int) -> Any:
        if n is None or type(n) in (bool, int, float, str):
            return n
        if type(n) is not dict:
            raise ValueError(f"a node of the stored structure is a JSON {type(n).__name__}; expected a value or a "
                             "tagged object")  # fmt: skip
        tag = sorted(n)
        if tag in (["dict"], ["list"], ["tuple"]) and type(n[tag[0]]) is list:
            if depth >= _MAX_DEPTH:
                raise ValueError(f"the stored structure nests dicts, lists and tuples more than {_MAX_DEPTH} deep")
            if tag == ["dict"]:
                return self.mapping(n["dict"], depth + 1)
            items = [self.node(v, depth + 1) for v in n[tag[0]]]
            return tuple(items) if tag == ["tuple"] else items
        if tag == ["float"] and n["float"] in ("nan", "inf", "-inf"):
            return float(n["float"])
        if tag == ["array"]:
            return self.take(n["array"])
        if tag == ["requires_grad", "tensor"] and type(n["requires_grad"]) is bool:
            a = self.take(n["tensor"])
            try:
                return Tensor(a, requires_grad=n["requires_grad"], dtype=a.dtype)
            except (TypeError, ValueError) as e:
                raise ValueError(f"tensor {n['tensor']!r}: {e}") from None
        raise ValueError(f"a node of the stored structure is a JSON object with keys {[k[:40] for k in tag[:4]]}; "
                         "expected one of dict, list, tuple, float, array, tensor (see save)")  # fmt: skip

    def mapping(self, pairs: list, depth: int) -> dict[str | int, Any]:
        out: dict[str | int, Any] = {}
        for pair in pairs:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) not in (str, int):
                raise ValueError("a dict entry of the stored structure is not a [key, value] pair with a str or int key")
            if pair[0] in out:
                raise ValueError(f"the key {_short(pair[0])} appears twice in one stored dict")
            out[pair[0]] = self.node(pair[1], depth)
        return out

    def take(self, name: Any) -> Any:
        """The tensor that ``name`` refers to, each at most once (on ``device`` when one was asked for)."""
        if type(name) is not str or name not in self.unused:
            twice = type(name) is str and name in self.arrays and name != OBJECT
            raise ValueError(f"the stored structure refers to tensor {_short(name)}"
                             + (" a second time" if twice else ", which the file does not hold"))  # fmt: skip
        self.unused.discard(name)
        a = self.arrays[name]
        return a if self.device is None else devices.move(a, self.device, "load")


def _short(x: Any) -> str:
    text = repr(x) if not isinstance(x, int) or x.bit_length() < 200 else f"<an int of {x.bit_length()} bits>"
    return text if len(text) <= 60 else text[:57] + "..."


def _unpack(path: str | os.PathLike, arrays: dict[str, np.ndarray], body: Any, device: Any) -> Any:
    """The object a file holds, rebuilt; a ValueError naming the file when it cannot be."""
    try:
        return _Unpacker(arrays, device).run(body)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _read_named(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``_read``, with the JSON reader's own refusals (nesting past its recursion limit, an int
    of too many digits) as ValueErrors that name the file, as every other refusal does."""
    try:
        return _read(path)
    except RecursionError:
        raise ValueError(f"{path}: the metadata nests too deeply to read as JSON") from None
    except ValueError as e:
        if str(Path(path)) in str(e):
            raise
        raise ValueError(f"{path}: the metadata cannot be read ({e})") from None


def _load_device(module: Any, device: Any, map_location: Any, weights_only: Any) -> Any:
    """``load``'s arguments checked (before any file is read); the device asked for, resolved, or None."""
    if isinstance(module, (str, devices.Device)):
        raise TypeError(f"load: the second argument is the module to fill, got {module!r}; torch.load's "
                        f"map_location is a keyword here (map_location={module!r})")  # fmt: skip
    if module is not None and not callable(getattr(module, "load_state_dict", None)):
        raise TypeError(f"load: module is a {type(module).__name__}; expected a chainrule Module (anything with "
                        "load_state_dict), or None for the saved object")  # fmt: skip
    if weights_only is not None and not isinstance(weights_only, bool):
        raise TypeError(f"load: weights_only={weights_only!r}; expected True, False or None (it changes nothing: "
                        "files are never unpickled)")  # fmt: skip
    if map_location is not None:
        if device is not None:
            raise TypeError("load: got both device= and map_location=, which are one setting; give one")
        if not isinstance(map_location, (str, devices.Device)):
            raise TypeError(f"load: map_location is a {type(map_location).__name__}; expected a device name ('cpu', "
                            "'cuda' or 'cuda:K'): a file holds no storages to remap with a dict or a function")  # fmt: skip
        device = map_location
    return None if device is None else devices.resolve(device, "load")  # no such GPU: say so before reading


def _state_dict_of(obj: Any) -> dict[str, Any]:
    """A loaded object as the state_dict a module takes: a dict of str to arrays or Tensors."""
    if isinstance(obj, dict) and all(isinstance(k, str) and (isinstance(v, Tensor) or backend.is_array(v))
                                     for k, v in obj.items()):  # fmt: skip
        return {k: v.numpy() if isinstance(v, Tensor) else v for k, v in obj.items()}
    raise ValueError(f"the file holds a {type(obj).__name__} that is not a state_dict (a dict of str to arrays or "
                     "Tensors); load it without a module and give its state_dict part to load_state_dict")  # fmt: skip


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata ``save`` stored, decoded from JSON."""
    return load_header(path)[0]


def save_checkpoint(path: str | os.PathLike, model: Module, optimizer: Any = None, epoch: int = 0,
                    scheduler: Any = None, extra: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Everything a run needs to continue exactly: weights, optimizer state, epoch, RNG state."""
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta: dict[str, Any] = {"format": "chainrule-checkpoint", "epoch": epoch, "rng": rng.get_state(), "extra": extra or {}}
    if optimizer is not None:
        sd = optimizer.state_dict()
        meta["optimizer"] = {"type": type(optimizer).__name__, "param_groups": sd["param_groups"],
                             "state": {str(i): _optim_entry(s, f"optim.{i}", arrays) for i, s in sd["state"].items()}}  # fmt: skip
    if scheduler is not None:
        meta["scheduler"] = scheduler.state_dict()
    atomic_write(path, _encode(arrays, meta))


def load_checkpoint(path: str | os.PathLike, model: Module, optimizer: Any = None, scheduler: Any = None) -> dict[str, Any]:
    """Restore a ``save_checkpoint`` file into the given objects; returns its epoch and extra.

    The whole file is checked first - its checksum, every tensor (finite, the model's
    shapes), the optimizer's state and hyperparameters, the schedule and the RNG state -
    so a bad file changes nothing and raises one ValueError naming the file.
    """
    arrays, meta = _read(path)
    try:
        slots, model_state, optim_state = _check_checkpoint(arrays, meta, model, optimizer, scheduler)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    model._write_state(slots, model_state)  # checked above: not again (a pass over every tensor)
    if optimizer is not None:
        optimizer._apply_state(optim_state)  # (checked: ``check_state_dict``'s result)
    if scheduler is not None and "scheduler" in meta:
        scheduler.load_state_dict(meta["scheduler"])
    rng.set_state(meta["rng"])
    return {"epoch": meta["epoch"], "extra": meta["extra"]}


def _check_checkpoint(arrays: dict[str, np.ndarray], meta: dict[str, Any], model: Module, optimizer: Any,
                      scheduler: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:  # fmt: skip
    """Everything ``load_checkpoint`` will load, checked; returns the model's slots (from
    ``check_state_dict``), the model's state and the optimizer's."""
    if meta.get("format") != "chainrule-checkpoint":
        raise ValueError("not a chainrule checkpoint (no format tag); expected a file from save_checkpoint")
    if type(meta.get("epoch")) is not int or meta["epoch"] < 0 or not isinstance(meta.get("extra"), dict):
        raise ValueError(f"epoch {meta.get('epoch')!r} and extra: expected an int >= 0 and a dict")
    try:
        np.random.Generator(np.random.PCG64()).bit_generator.state = meta.get("rng")
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"the RNG state is not a NumPy generator's state ({e})") from None
    model_state = {k[len("model.") :]: v for k, v in arrays.items() if k.startswith("model.")}
    slots = model.check_state_dict(model_state)
    optim_state = None
    if optimizer is not None:
        saved = meta.get("optimizer")
        found = saved.get("type") if isinstance(saved, dict) else None
        if _RENAMED.get(found, found) != type(optimizer).__name__:
            raise ValueError(f"optimizer is {type(optimizer).__name__}, the checkpoint holds {found}")
        tensors = {k: v for k, v in arrays.items() if k.startswith("optim.")}
        optim_state = _old_optim_state(saved, tensors) if "hyper" in saved else _optim_state(saved, tensors)
        optim_state = optimizer.check_state_dict(optim_state)
    if scheduler is not None and "scheduler" in meta:
        scheduler.check_state_dict(meta["scheduler"])
    return slots, model_state, optim_state


_RENAMED = {"AdaGrad": "Adagrad", "RMSProp": "RMSprop"}  # optimizers' names in checkpoints before PyTorch's


def _optim_entry(value: Any, name: str, arrays: dict[str, Any]) -> Any:
    """An optimizer state value for the header: its arrays moved into ``arrays`` as tensors
    (``optim.<parameter>.<key>[.<index>]``), each leaving ``{"tensor": name}`` in its place."""
    if isinstance(value, dict):
        return {k: _optim_entry(v, f"{name}.{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_optim_entry(v, f"{name}.{j}", arrays) for j, v in enumerate(value)]
    if hasattr(value, "shape"):
        arrays[name] = value
        return {"tensor": name}
    return value


def _optim_state(saved: dict[str, Any], tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """The optimizer's ``state_dict`` back from the header and its tensors (every one used once)."""
    used: set[str] = set()

    def back(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"tensor"}:
            if v["tensor"] not in tensors:
                raise ValueError(f"the optimizer's state names tensor {v['tensor']!r}, which the file lacks")
            used.add(v["tensor"])
            return tensors[v["tensor"]]
        if isinstance(v, dict):
            return {k: back(x) for k, x in v.items()}
        return [back(x) for x in v] if isinstance(v, list) else v

    state = saved.get("state")
    if not isinstance(state, dict) or not all(isinstance(k, str) and k.isdigit() for k in state):
        raise ValueError("the optimizer's state is not a dict keyed by parameter ids")
    state = {int(k): back(v) for k, v in state.items()}
    extra = sorted(set(tensors) - used)
    if extra:
        raise ValueError(f"tensor {extra[0]!r} belongs to no parameter of the optimizer")
    return {"param_groups": saved.get("param_groups"), "state": state}


def _old_optim_state(saved: dict[str, Any], tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """A checkpoint from before parameter groups: ``hyper``, per-parameter ``counts`` and
    tensors ``optim.<i>.<key>`` (the optimizer's ``check_state_dict`` converts the result)."""
    counts = saved.get("counts")
    if not isinstance(counts, list) or not all(isinstance(c, dict) for c in counts):
        raise ValueError("the optimizer's step counts are not a list of dicts")
    states = [dict(c) for c in counts]
    for k, v in tensors.items():
        _, i, name = k.split(".", 2)
        if not i.isdigit() or int(i) >= len(states):
            raise ValueError(f"tensor {k!r} belongs to no parameter of the optimizer")
        states[int(i)][name] = v
    return {"hyper": saved.get("hyper"), "state": states}
