"""What a model is trained for: a task is its data, its loss and its metrics.

``classification`` serves the classifiers (the spiral, digits, MNIST, Fashion-MNIST,
CIFAR-10; SVM or softmax loss; accuracy); ``language`` character-level language modelling
on any text (cross-entropy in nats, bits per character); ``sequence`` the Neural Turing Machine paper's
three tasks (copy, repeat copy, associative recall; binary cross-entropy; wrong bits per
sequence), each an endless ``SequenceStream`` of fresh batches. ``chainrule.training.fit``
takes a task's pieces as its ``data``, ``loss`` and ``metrics``.

>>> from chainrule import tasks
>>> sorted(tasks.TASKS)
['copy', 'recall', 'repeat-copy']
"""

from __future__ import annotations

from . import classification, language, sequence
from .classification import accuracy, confusion_matrix, load_data, loss_function, predict
from .language import CharVocab, WindowStream, bits_per_char, lm_loss, read_text, split_text, unigram_entropy
from .sequence import (
    TASKS,
    SequenceStream,
    Task,
    bit_error,
    copy_batch,
    copy_loss,
    recall_batch,
    repeat_copy_batch,
    task_of,
)

__all__ = ["TASKS", "CharVocab", "SequenceStream", "Task", "WindowStream", "accuracy", "bit_error", "bits_per_char",
           "classification", "confusion_matrix", "language", "lm_loss", "read_text", "split_text", "unigram_entropy",
           "copy_batch", "copy_loss", "load_data", "loss_function", "predict", "recall_batch", "repeat_copy_batch",
           "sequence", "task_of"]  # fmt: skip
