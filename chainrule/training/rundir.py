"""One run per output folder: the folder's checks, a lock, and what killed runs left behind.

``claim(out)`` is what a training run (``fit``, ``chainrule train``) holds while it writes into
``out``. It refuses an ``--out`` that is empty, an existing file or a place that
cannot be created, each in one line; it takes an exclusive lock on ``out/.chainrule.lock``
through ``filelock`` (an OS lock that the kernel drops when its process dies, so a lock
left by a killed run is free again and is taken over, saying so) and writes the owner's
pid beside it, so a second run into the same folder is refused naming the first; and it
deletes the temporary files (``.NAME.XXXX.tmp``) of writes a killed run left unfinished.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TextIO

import numpy as np

LOCK, PID = ".chainrule.lock", ".chainrule.pid"


class FolderBusy(RuntimeError):
    """Another run holds the output folder."""


def check_folder(out: str | os.PathLike) -> Path:
    """``out`` as a folder that exists (created if need be), or a ValueError in one line."""
    if not str(out).strip():
        raise ValueError("--out is empty; expected a folder for the run's files")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {path}: is a file; expected a folder (or a name to create one)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out {path}: cannot create the folder ({e.strerror or e})") from e
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"--out {path}: the folder is not writable")
    return path


@contextmanager
def claim(out: str | os.PathLike, log: TextIO | None = None) -> Iterator[Path]:
    """Hold ``out`` for one run: checked, locked, cleaned of a killed run's temporary files.

    >>> import tempfile
    >>> with claim(tempfile.mkdtemp()) as folder:
    ...     (folder / PID).read_text() == str(os.getpid())
    True
    """
    from filelock import FileLock, Timeout

    path = check_folder(out)
    lock = FileLock(str(path / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise FolderBusy(f"--out {path}: another run (pid {_owner(path)}) is writing there; wait for it to "
                         "finish or choose another --out") from None  # fmt: skip
    pid_file = path / PID
    try:
        previous = _owner(path)
        if previous != "unknown" and previous != str(os.getpid()) and log is not None:
            print(f"taking over {path} from pid {previous}, which stopped without releasing it", file=log)
        pid_file.write_text(str(os.getpid()))
        for tmp in path.glob(".*.tmp"):  # half-written files of a killed run (see atomic_write)
            tmp.unlink(missing_ok=True)
        yield path
    finally:
        pid_file.unlink(missing_ok=True)
        lock.release()


def _owner(path: Path) -> str:
    try:
        return (path / PID).read_text().strip() or "unknown"
    except OSError:
        return "unknown"


@contextmanager
def held_run(out: str | os.PathLike | None, log: TextIO | None) -> Iterator[Path | None]:
    """What a training run holds while it runs: its folder, if any (``claim``), and NumPy's
    overflow and 0/0 warnings off, since a non-finite value is caught as ``Diverged`` in one
    line instead."""
    with ExitStack() as held:
        folder = held.enter_context(claim(out, log)) if out is not None else None
        held.enter_context(np.errstate(over="ignore", invalid="ignore", divide="ignore"))
        yield folder
