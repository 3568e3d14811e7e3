"""Saving weights and checkpoints as safetensors: plain arrays and a JSON header, never a pickle.

Every file is written atomically (a temporary file in the same folder, flushed, then
renamed over the target), so an interrupted save leaves the previous file intact.
A checkpoint is one safetensors file: the model's arrays under ``model.``, the
optimizer's under ``optim.<i>.``, and in its metadata (JSON strings) the epoch, the
optimizer's hyperparameters and step counts, the scheduler, and chainrule's RNG state.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import rng
from .nn.module import Module


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


def _encode(arrays: dict[str, Any], metadata: dict[str, str]) -> bytes:
    from safetensors.numpy import save

    return save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=metadata)


def _read(path: str | os.PathLike, arrays: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The file's arrays (skipped when ``arrays=False``: the header alone is read) and its
    metadata, decoded from JSON."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="numpy") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()} if arrays else {}  # noqa: SIM118
            meta = dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from e
    try:
        return tensors, {k: json.loads(v) for k, v in meta.items()}
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: metadata is not JSON ({e})") from e


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
    atomic_write(path, _encode(arrays, {k: json.dumps(v) for k, v in (metadata or {}).items()}))


def load(path: str | os.PathLike, module: Module | None = None) -> Any:
    """Read a safetensors file: into ``module`` (returned) or as a dict of arrays."""
    arrays, _ = _read(path)
    if module is None:
        return arrays
    try:
        module.load_state_dict(arrays)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    return module


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata ``save`` stored, decoded from JSON."""
    return _read(path, arrays=False)[1]


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
    atomic_write(path, _encode(arrays, {k: json.dumps(v) for k, v in meta.items()}))


def load_checkpoint(path: str | os.PathLike, model: Module, optimizer: Any = None, scheduler: Any = None) -> dict[str, Any]:
    """Restore a ``save_checkpoint`` file into the given objects; returns its epoch and extra."""
    arrays, meta = _read(path)
    if meta.get("format") != "chainrule-checkpoint":
        raise ValueError(f"{path}: not a chainrule checkpoint (no format tag); expected a file from save_checkpoint")
    try:
        model.load_state_dict({k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")})
        if optimizer is not None:
            if "optimizer" not in meta or meta["optimizer"]["type"] != type(optimizer).__name__:
                found = meta.get("optimizer", {}).get("type")
                raise ValueError(f"optimizer is {type(optimizer).__name__}, the checkpoint holds {found}")
            states = [dict(c) for c in meta["optimizer"]["counts"]]
            for k, v in arrays.items():
                if k.startswith("optim."):
                    _, i, name = k.split(".", 2)
                    states[int(i)][name] = v
            optimizer.load_state_dict({"hyper": meta["optimizer"]["hyper"], "state": states})
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    if scheduler is not None and "scheduler" in meta:
        scheduler.load_state_dict(meta["scheduler"])
    rng.set_state(meta["rng"])
    return {"epoch": meta["epoch"], "extra": meta["extra"]}
