"""Character-level language modelling: any UTF-8 text, next-character prediction.

The vocabulary is the text's own characters (``CharVocab``, saved with the weights). A
seeded ``val_fraction`` of the text, one contiguous stretch, is held out for validation;
training draws random windows of ``block_size + 1`` characters from the rest
(``WindowStream``: inputs are a window's first ``block_size`` ids, targets the same shifted
by one). The loss is cross-entropy in nats per character; ``bits_per_char`` divides it by
ln 2. ``unigram_entropy`` is the bar a model must clear to have learned more than letter
frequencies. ``text:pydoc`` is a text every Python carries (the standard library's
``pydoc_data`` topics), so nothing is downloaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import data
from ..autograd.tensor import Tensor
from ..backend import is_array
from ..data.stream import RandomStream
from ..nn import functional as F

LN2 = math.log(2.0)


class CharVocab:
    """The characters of a text, each an id (in sorted order).

    >>> v = CharVocab.from_text("hello")
    >>> v.chars, v.encode("hole").tolist(), v.decode([2, 1])
    ('ehlo', [1, 3, 2, 0], 'lh')
    """

    def __init__(self, chars: str) -> None:
        if not chars or len(set(chars)) != len(chars):
            raise ValueError(f"CharVocab: {len(chars)} characters with repeats or none; expected distinct ones")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Ids of ``text``; a character outside the vocabulary is a ValueError naming it."""
        unknown = sorted({c for c in text if c not in self.index})
        if unknown:
            shown = ", ".join(repr(c) for c in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            raise ValueError(f"{len(unknown)} character(s) not in the model's vocabulary of {len(self)}: {shown}")
        return np.array([self.index[c] for c in text], dtype=np.int64)

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))


def read_text(spec: str) -> str:
    """The text of ``text:PATH`` (a UTF-8 file) or ``text:pydoc``; bad input is a ValueError in one line.

    >>> len(read_text("text:pydoc")) > 100_000
    True
    """
    kind, _, where = spec.partition(":")
    if kind != "text" or not where:
        raise ValueError(f"--data {spec!r}: expected text:PATH (a UTF-8 file) or text:pydoc")
    if where == "pydoc":
        try:
            from pydoc_data.topics import topics
        except ImportError:  # some distributions split the standard library
            raise ValueError("--data text:pydoc: this Python has no pydoc_data (part of the standard library); "
                             "give a text file as text:PATH") from None

        return "\n\n".join(topics[k] for k in sorted(topics))
    path = Path(where)
    if not path.is_file():
        raise ValueError(f"--data {spec}: no such file {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"--data {spec}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return text


@dataclass
class TextSplits:
    """A text's vocabulary and its ids, split into training and validation."""

    vocab: CharVocab
    train: np.ndarray  # int64 ids
    val: np.ndarray


def split_text(text: str, val_fraction: float = 0.1, seed: int = 0, min_chars: int = 64) -> TextSplits:
    """Hold out one contiguous ``val_fraction`` of ``text``, at an offset drawn from ``seed``.

    >>> s = split_text("abcdefghij" * 100, 0.1, seed=0)
    >>> len(s.train), len(s.val), len(s.vocab)
    (900, 100, 10)
    """
    if len(text) < min_chars:
        raise ValueError(f"the text has {len(text)} characters; expected at least {min_chars}")
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    n_val = int(len(ids) * val_fraction)
    start = int(np.random.default_rng(seed).integers(0, len(ids) - n_val + 1))
    return TextSplits(vocab, np.concatenate([ids[:start], ids[start + n_val :]]), ids[start : start + n_val].copy())


class WindowStream(RandomStream):
    """Endless batches of random windows of a text: ``(x, y)``, each (batch, block_size) ids, y
    being x shifted by one character (``RandomStream``: its state goes into checkpoints,
    ``shard`` splits each batch over ranks).

    >>> x, y = next(iter(WindowStream(np.arange(100), block_size=8, batch=2, seed=0)))
    >>> x.shape, bool((y[:, :-1] == x[:, 1:]).all())
    ((2, 8), True)
    """

    def __init__(self, ids: np.ndarray, block_size: int, batch: int, seed: int = 0) -> None:
        if len(ids) <= block_size + 1:
            raise ValueError(f"WindowStream: {len(ids)} characters of training text; expected more than the "
                             f"block size {block_size} + 1")  # fmt: skip
        super().__init__(batch, seed)
        self.ids, self.block_size = np.asarray(ids, dtype=np.int64), block_size
        self.offsets = np.arange(block_size + 1)

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        starts = self.generator.integers(0, len(self.ids) - self.block_size, self.batch)
        windows = self.ids[starts[:, None] + self.offsets]  # (batch, block_size + 1)
        return windows[:, :-1], windows[:, 1:]


def windows(ids: np.ndarray, block_size: int, limit: int = 128) -> data.ArrayDataset:
    """Up to ``limit`` non-overlapping windows of ``ids`` (evenly spaced), as (inputs, targets):
    the validation set."""
    n = (len(ids) - 1) // block_size
    if n < 1:
        raise ValueError(f"the validation text has {len(ids)} characters; expected more than the block size "
                         f"{block_size} (lower --val-fraction's share or --block-size)")  # fmt: skip
    picks = np.linspace(0, n - 1, min(n, limit)).astype(np.int64) * block_size
    grid = ids[picks[:, None] + np.arange(block_size + 1)]  # (windows, block_size + 1)
    return data.ArrayDataset(grid[:, :-1], grid[:, 1:])


def lm_loss(logits: Tensor, targets: Any) -> Tensor:
    """Mean cross-entropy (nats per character) of (B, T, V) logits against (B, T) next ids.

    >>> import chainrule as cr
    >>> round(lm_loss(cr.zeros(1, 2, 4), [[0, 3]]).item(), 4) == round(math.log(4), 4)
    True
    """
    v = logits.shape[-1]
    y = targets if isinstance(targets, Tensor) else Tensor(targets if is_array(targets) else np.asarray(targets),
                                                           dtype=np.int64)  # fmt: skip
    return F.cross_entropy(logits.reshape(-1, v), y.reshape(-1))


def bits_per_char(nats: float) -> float:
    return nats / LN2


def unigram_entropy(ids: np.ndarray) -> float:
    """The entropy of the text's character frequencies, in bits per character.

    >>> unigram_entropy(np.array([0, 1, 0, 1]))
    1.0
    """
    p = np.bincount(ids) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())
