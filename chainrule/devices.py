"""Where a tensor's numbers live: ``"cpu"`` (NumPy arrays) or ``"cuda:K"`` (CuPy arrays on GPU K).

A tensor has no device field of its own: its device is read off its array (a NumPy array
is on the CPU, a CuPy array on the GPU that holds its memory), so the two can never
disagree, and ops need no device logic at all - they compute with the array module of
their inputs (``chainrule.backend``). This module is the one place that turns a device
name into a ``Device``, asks where an array is (``device_of``) and copies arrays between
devices (``move``): ``Tensor.to``, ``Module.to``, the optimizers' state and checkpoint
loading all go through it, and ``like`` puts labels and indices where the data they
index is. CuPy is imported only when a ``cuda`` device is used, so the CPU path never
touches a GPU. An op whose inputs sit on two devices fails with an error that names both
(``mismatch``): the engine asks when a forward has failed, and ``check_same`` when a GPU
op returned, so NumPy's fast path pays nothing for it.

>>> import chainrule as cr
>>> x = cr.tensor([1.0, 2.0], device="cpu")
>>> x.device, x.to("cpu") is x
(device('cpu'), True)
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np

from . import backend

__all__ = ["CPU", "Device", "check_same", "cuda_available", "cuda_device_count", "current_gpu", "device", "device_of",
           "like", "mismatch", "move", "resolve", "to_arguments"]

_NAME = re.compile(r"(cpu|cuda)(?::(\d+))?")


class Device:
    """A place for arrays: ``Device("cpu")`` or ``Device("cuda", K)`` (GPU K; None: the current GPU).

    Compares equal to another Device or to its name: ``t.device == "cuda:0"``.

    >>> Device("cuda", 1), str(Device("cpu")), Device("cpu") == "cpu"
    (device('cuda:1'), 'cpu', True)
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str, index: int | None = None) -> None:
        if type not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device type {type!r}; expected 'cpu' or 'cuda'")
        if type == "cpu" and index not in (None, 0):
            raise ValueError(f"device: the CPU has no index {index}; expected 'cpu'")
        if index is not None and not (isinstance(index, int) and index >= 0):
            raise ValueError(f"device: GPU index {index!r}; expected an integer >= 0")
        self.type = type
        self.index = None if type == "cpu" else index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device('{self}')"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except ValueError:
                return False
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = Device("cpu")


def device(spec: str | Device) -> Device:
    """The Device that ``spec`` names: ``"cpu"``, ``"cuda"`` (the current GPU) or ``"cuda:K"``.

    >>> device("cuda:0").index, device("cpu").type
    (0, 'cpu')
    >>> device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device: 'gpu' is not a device; expected 'cpu', 'cuda' or 'cuda:K' (K a GPU number)
    """
    if isinstance(spec, Device):
        return spec
    if isinstance(spec, str):
        m = _NAME.fullmatch(spec.strip())
        if m is not None and not (m.group(1) == "cpu" and m.group(2) not in (None, "0")):
            return CPU if m.group(1) == "cpu" else Device("cuda", None if m.group(2) is None else int(m.group(2)))
    raise ValueError(f"device: {spec!r} is not a device; expected 'cpu', 'cuda' or 'cuda:K' (K a GPU number)")


def cuda_device_count() -> int:
    """How many GPUs CuPy sees: 0 without CuPy, without a driver or without a GPU.

    >>> cuda_device_count() >= 0
    True
    """
    cupy = backend._cupy_module()
    if cupy is None:
        return 0
    try:
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # CuPy installed, but no driver or no GPU: its CUDA errors differ by version
        return 0


def cuda_available() -> bool:
    """True when a ``cuda`` device can be used (CuPy imports and sees a GPU).

    >>> device = "cuda" if cuda_available() else "cpu"  # the device a script should use
    >>> device in ("cuda", "cpu")
    True
    """
    return cuda_device_count() > 0


def current_gpu() -> int | None:
    """The number of CuPy's current GPU (what ``"cuda"`` alone means); None without one.

    >>> current_gpu() is None or current_gpu() >= 0
    True
    """
    if not cuda_available():
        return None
    return int(backend._cupy_module().cuda.runtime.getDevice())  # type: ignore[union-attr]


def device_of(array: Any) -> Device:
    """The device that holds ``array``'s memory (NumPy arrays and Python numbers: the CPU).

    >>> device_of(np.zeros(2))
    device('cpu')
    """
    if type(array) is np.ndarray or backend.array_module(array) is not backend._cupy:
        return CPU
    return Device("cuda", int(array.device.id))


def _cuda(dev: Device, who: str) -> tuple[Any, int]:
    """CuPy and the GPU number ``dev`` means, or an error saying why there is none."""
    cupy = backend._cupy_module()
    if cupy is None:
        raise RuntimeError(f"{who}: device {str(dev)!r} needs CuPy, which is not installed; "
                           "expected `pip install 'chainrule[gpu]'` on a machine with an NVIDIA GPU")
    count = cuda_device_count()
    index = current_gpu() if dev.index is None else dev.index
    if count == 0 or index is None or index >= count:
        raise RuntimeError(f"{who}: device {str(dev)!r} asked for, but CuPy sees {count} GPU(s)"
                           + ("; expected 'cuda:0'" + (f" to 'cuda:{count - 1}'" if count > 1 else "") if count else ""))
    return cupy, index


def resolve(dev: str | Device, who: str = "to") -> Device:
    """``dev`` with its GPU number filled in (``"cuda"`` alone: the current GPU), checked to
    exist: an error saying what is missing when CuPy or that GPU is not there.

    >>> resolve("cpu")
    device('cpu')
    """
    dev = device(dev)
    if dev.type == "cpu":
        return dev
    return Device("cuda", _cuda(dev, who)[1])


def move(array: Any, dev: str | Device, who: str = "to") -> Any:
    """``array`` on device ``dev``: the same object when it is already there, else a copy.

    >>> a = np.ones(2)
    >>> move(a, "cpu") is a
    True
    """
    dev = device(dev)
    if dev.type == "cpu":
        return backend.to_numpy(array) if backend.is_array(array) else np.asarray(array)
    cupy = backend._cupy
    if cupy is not None and dev.index is not None and isinstance(array, cupy.ndarray) and array.device.id == dev.index:
        return array  # already on that GPU: no need to ask CuPy what it sees
    cupy, index = _cuda(dev, who)
    if isinstance(array, cupy.ndarray) and int(array.device.id) == index:
        return array
    with cupy.cuda.Device(index):
        if isinstance(array, cupy.ndarray):  # another GPU's array: copied across to this one
            return cupy.copy(array)
        return cupy.asarray(array)


def like(x: Any, ref: Any) -> Any:
    """``x`` (an array or a list) as an array where ``ref`` is: the same object when it is there
    already, else copied over (labels or indices from the host to a GPU model's device).

    >>> a = np.arange(3)
    >>> like(a, np.zeros(2)) is a, like([1, 2], np.zeros(2)).tolist()
    (True, [1, 2])
    """
    xp = backend.array_module(ref)
    if xp is np or xp is backend._cupy:
        return move(x, device_of(ref), "like")  # (another GPU's array: copied across, as move does)
    # another array type's namespace: a compiled step's trace (where a host array stays the
    # constant it is) or the tests' stand-in for a GPU
    return xp.asarray(x)


def mismatch(who: str, arrays: Any) -> str | None:
    """The error for an op whose ``arrays`` sit on more than one device, naming each; None
    when they share one. Python numbers and NumPy scalars go anywhere and are not counted.

    >>> mismatch("Add", [np.ones(2), 3.0]) is None
    True
    """
    seen: dict[Device, int] = {}
    for i, a in enumerate(arrays):
        if backend.is_array(a):
            seen.setdefault(device_of(a), i)
    if len(seen) < 2:
        return None
    where = " and ".join(f"{d} (input {i})" for d, i in seen.items())
    return f"{who}: inputs are on different devices, {where}; expected one device: move them with .to(device) first"


def to_arguments(device: Any, dtype: Any, who: str) -> tuple[Device | None, np.dtype | None]:
    """The device and dtype that ``to(device, dtype)`` asks for; its one argument may be either.

    >>> to_arguments("float64", None, "to")
    (None, dtype('float64'))
    >>> to_arguments("cuda:1", "float32", "to")
    (device('cuda:1'), dtype('float32'))
    """
    if device is not None and not isinstance(device, Device):
        try:
            device = globals()["device"](device)
        except ValueError:
            try:
                as_dtype = np.dtype(device) if dtype is None else None
            except TypeError:
                as_dtype = None
            if as_dtype is None:
                raise ValueError(f"{who}: {device!r} is not a device; expected 'cpu', 'cuda' or 'cuda:K'"
                                 + ("" if dtype is not None else ", or a dtype such as 'float64'")) from None
            device, dtype = None, as_dtype
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise ValueError(f"{who}: {dtype!r} is not a dtype; expected e.g. 'float32' or 'float64'") from None
    return device, dtype


def check_same(who: str, out: Any, arrays: Any) -> None:
    """Raise ``mismatch``'s error when a floating-point array among ``arrays`` is on another
    device than ``out``. Let through, as PyTorch does: 0-d host arrays (scalars) and integer
    and boolean arrays (labels, indices, masks: CuPy takes host index arrays itself). The
    engine calls it for GPU outputs only, so it is kept to a type compare per input (and a
    device compare only on a machine with several GPUs).

    >>> check_same("Add", np.ones(2), [np.ones(2), 1.0, np.arange(2)])  # all where the output is
    """
    kind = type(out)
    several = _several_gpus()
    for a in arrays:
        t = type(a)
        if t is kind:
            if several and a.device != out.device:
                raise ValueError(mismatch(who, arrays) or f"{who}: inputs are on different devices")
        elif t is not float and t is not int and backend.is_array(a) and a.ndim and a.dtype.kind in "fc":
            raise ValueError(mismatch(who, arrays) or f"{who}: inputs are on different devices")


@functools.lru_cache(maxsize=1)
def _several_gpus() -> bool:
    return cuda_device_count() > 1
