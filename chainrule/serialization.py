"""Saving weights and checkpoints as safetensors: plain arrays and a JSON header, never a pickle.

Every file is written atomically (a temporary file in the same folder, flushed, then
renamed over the target), so an interrupted save leaves the previous file intact.
A checkpoint is one safetensors file: the model's arrays under ``model.``, the
optimizer's under ``optim.<i>.``, and in its metadata (JSON strings) the epoch, the
optimizer's hyperparameters and step counts, the scheduler, and chainrule's RNG state.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import devices, rng
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

    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
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
    try:
        meta = {k: json.loads(v) for k, v in meta.items()}
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: metadata is not JSON ({e})") from e
    stored = meta.pop(CHECKSUM, None)
    if arrays and stored is not None and checksum(tensors) != stored:
        raise ValueError(f"{path}: the tensors do not match the file's checksum (a flipped bit, or a damaged "
                         "copy); refused rather than trained on")  # fmt: skip
    return tensors, meta, shapes


def load_header(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, tuple[int, ...]]]:
    """The metadata and each tensor's shape, from the header alone (nothing is allocated for the data)."""
    _, meta, shapes = _open(path, arrays=False)
    return meta, shapes


def save(obj: Module | dict[str, Any], path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
    """Write a module's weights (its ``state_dict``) or a dict of arrays as safetensors.

    ``metadata`` values are stored as JSON text in the file's header.

    >>> import chainrule as cr, tempfile, os
    >>> net = cr.nn.Linear(2, 3)
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> cr.save(net, path, metadata={"model": "linear"})
    >>> other = cr.load(path, cr.nn.Linear(2, 3))
    >>> bool((other.weight.numpy() == net.weight.numpy()).all()), cr.load_metadata(path)["model"]
    (True, 'linear')
    """
    arrays = obj.state_dict() if isinstance(obj, Module) else obj
    atomic_write(path, _encode(arrays, metadata or {}))


def load(path: str | os.PathLike, module: Module | None = None, device: Any = None) -> Any:
    """Read a safetensors file: into ``module`` (returned; each value lands on the device
    of the parameter it fills) or as a dict of arrays (NumPy, or on ``device``: "cuda")."""
    if device is not None:
        device = devices.resolve(device, "load")  # no such GPU: say so before reading
    arrays, _ = _read(path)
    if module is None:
        return arrays if device is None else {k: devices.move(v, device, "load") for k, v in arrays.items()}
    try:
        module.load_state_dict(arrays)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    return module


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
        meta["optimizer"] = {"type": type(optimizer).__name__, "hyper": sd["hyper"], "counts": []}
        for i, state in enumerate(sd["state"]):
            meta["optimizer"]["counts"].append({k: v for k, v in state.items() if not hasattr(v, "shape")})
            arrays.update({f"optim.{i}.{k}": v for k, v in state.items() if hasattr(v, "shape")})
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
        optimizer._apply_state(optim_state)
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
        if not isinstance(saved, dict) or saved.get("type") != type(optimizer).__name__:
            found = saved.get("type") if isinstance(saved, dict) else None
            raise ValueError(f"optimizer is {type(optimizer).__name__}, the checkpoint holds {found}")
        counts = saved.get("counts")
        if not isinstance(counts, list) or not all(isinstance(c, dict) for c in counts):
            raise ValueError("the optimizer's step counts are not a list of dicts")
        states = [dict(c) for c in counts]
        for k, v in arrays.items():
            if k.startswith("optim."):
                _, i, name = k.split(".", 2)
                if not i.isdigit() or int(i) >= len(states):
                    raise ValueError(f"tensor {k!r} belongs to no parameter of the optimizer")
                states[int(i)][name] = v
        optim_state = {"hyper": saved.get("hyper"), "state": states}
        optimizer.check_state_dict(optim_state)
    if scheduler is not None and "scheduler" in meta:
        scheduler.check_state_dict(meta["scheduler"])
    return slots, model_state, optim_state
