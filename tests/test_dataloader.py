"""``chainrule.data`` as ``torch.utils.data``: samplers, splits, datasets, ``default_collate``
(against torch's on the same structures), ``DataLoader``'s arguments and checks, and its
worker processes (the same batches as in-process, errors that name the index, seeding,
persistence, shutdown). Worker tests use tiny datasets and two workers: a few seconds in all.
"""

from __future__ import annotations

import collections
import gc
import os
import time
from typing import NamedTuple

import numpy as np
import pytest

import chainrule as cr
from chainrule import data
from chainrule.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    get_worker_info,
    random_split,
)

torch = pytest.importorskip("torch")
tud = torch.utils.data


def g(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- samplers ----------------------------------------------------------------------------------


def test_sequential_and_batch_samplers_match_torch():
    for n, bs, drop in [(10, 3, False), (10, 3, True), (9, 3, True), (0, 2, False), (2, 5, False), (2, 5, True)]:
        ours = BatchSampler(SequentialSampler(range(n)), bs, drop)
        theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop)
        assert list(ours) == list(theirs) and len(ours) == len(theirs), (n, bs, drop)
    assert list(BatchSampler([5, 1, 4], 2, False)) == [[5, 1], [4]]  # any iterable of indices


def test_random_sampler_permutes_repeats_and_replaces():
    s = RandomSampler(range(10), generator=g(1))
    first, second = list(s), list(s)
    assert sorted(first) == list(range(10)) and first != second  # the generator moves on
    assert list(RandomSampler(range(10), generator=g(1))) == first  # ... from its seed
    more = list(RandomSampler(range(4), num_samples=10, generator=g(0)))
    assert len(more) == 10 and sorted(more[:4]) == sorted(more[4:8]) == [0, 1, 2, 3]  # whole permutations, then a cut
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=300, generator=g(0)))
    assert len(drawn) == 300 and set(drawn) == {0, 1, 2} and max(np.bincount(drawn)) < 150
    cr.manual_seed(5)
    a = list(RandomSampler(range(8)))
    cr.manual_seed(5)
    assert list(RandomSampler(range(8))) == a  # no generator: chainrule's stream
    assert all(type(i) is int for i in a)


def test_subset_random_sampler():
    s = SubsetRandomSampler([7, 3, 9, 1], generator=g(2))
    out = list(s)
    assert sorted(out) == [1, 3, 7, 9] and len(s) == 4
    assert list(SubsetRandomSampler([7, 3, 9, 1], generator=g(2))) == out


def test_weighted_random_sampler_follows_the_weights():
    w = [0.0, 1.0, 3.0, 0.0]
    drawn = list(WeightedRandomSampler(w, 4000, generator=g(0)))
    counts = np.bincount(drawn, minlength=4)
    assert counts[0] == counts[3] == 0  # weight 0: never
    assert abs(counts[2] / 4000 - 0.75) < 0.03  # 3:1
    once = list(WeightedRandomSampler([1, 5, 1, 2], 3, replacement=False, generator=g(0)))
    assert len(set(once)) == 3
    assert list(WeightedRandomSampler(w, 9, generator=g(4))) == list(WeightedRandomSampler(w, 9, generator=g(4)))
    assert len(WeightedRandomSampler(cr.Tensor([1.0, 2.0]), 5)) == 5  # a Tensor of weights


@pytest.mark.parametrize("make, error, words", [
    (lambda: RandomSampler(range(3), replacement=1), TypeError, "RandomSampler: replacement should be a boolean"),
    (lambda: RandomSampler(range(3), num_samples=0), ValueError, "RandomSampler: num_samples should be a positive"),
    (lambda: RandomSampler(range(3), generator=3), TypeError, "RandomSampler: generator is int; expected a numpy"),
    (lambda: WeightedRandomSampler([[1.0]], 2), ValueError, "WeightedRandomSampler: weights should be a 1d"),
    (lambda: WeightedRandomSampler([1.0], 0), ValueError, "num_samples should be a positive integer value"),
    (lambda: WeightedRandomSampler([1.0, -1.0], 1), ValueError, "weights must be finite, >= 0"),
    (lambda: WeightedRandomSampler([1.0, 0.0], 2, replacement=False), ValueError, "only 1 weights are nonzero"),
    (lambda: BatchSampler(range(3), 0, False), ValueError, "BatchSampler: batch_size should be a positive"),
    (lambda: BatchSampler(range(3), 2, 1), ValueError, "BatchSampler: drop_last should be a boolean"),
    (lambda: SubsetRandomSampler([1], generator="x"), TypeError, "SubsetRandomSampler: generator is str"),
])  # fmt: skip
def test_sampler_errors(make, error, words):
    with pytest.raises(error, match=words):
        make()


# -- datasets and splits -----------------------------------------------------------------------


def test_random_split_lengths_and_fractions_as_torch():
    for n, lengths in [(10, [3, 7]), (10, [0.7, 0.3]), (11, [0.5, 0.25, 0.25]), (5, [0.1, 0.9]), (7, [1.0])]:
        ours = random_split(range(n), lengths, generator=g(0))
        theirs = tud.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
        assert [len(s) for s in ours] == [len(s) for s in theirs], (n, lengths)
        assert sorted(i for s in ours for i in s) == list(range(n))  # disjoint, and covers everything
    a = [list(s) for s in random_split(range(20), [5, 15], generator=g(3))]
    assert a == [list(s) for s in random_split(range(20), [5, 15], generator=g(3))]  # seeded: reproducible
    assert a != [list(s) for s in random_split(range(20), [5, 15], generator=g(4))]
    cr.manual_seed(1)
    b = [s.indices for s in random_split(range(6), [3, 3])]
    cr.manual_seed(1)
    assert b == [s.indices for s in random_split(range(6), [3, 3])]  # no generator: chainrule's stream
    with pytest.warns(UserWarning, match="length of split at index 0 is 0"):
        random_split(range(3), [0.0, 1.0])
    with pytest.raises(ValueError, match=r"random_split: lengths \[3, 3\] sum to 6, but the dataset holds 5"):
        random_split(range(5), [3, 3])
    with pytest.raises(ValueError, match="random_split: lengths"):
        random_split(range(5), [6, -1])


def test_tensor_concat_and_subset_datasets():
    x, y = cr.Tensor(np.arange(8.0).reshape(4, 2)), np.array([1, 0, 1, 0])
    ds = TensorDataset(x, y)
    item = ds[2]
    assert isinstance(item, tuple) and item[0].numpy().tolist() == [4.0, 5.0] and int(item[1]) == 1 and len(ds) == 4
    with pytest.raises(ValueError, match=r"TensorDataset: size mismatch between tensors: first axes of \[4, 3\]"):
        TensorDataset(x, np.zeros(3))
    with pytest.raises(ValueError, match="TensorDataset: got no tensors"):
        TensorDataset()
    cat = ds + TensorDataset(np.ones((2, 2)), np.array([5, 6]))
    assert isinstance(cat, ConcatDataset) and len(cat) == 6 and int(cat[5][1]) == 6 and int(cat[-2][1]) == 5
    theirs = tud.ConcatDataset([list(range(4)), list(range(10, 12))])
    ours = ConcatDataset([list(range(4)), list(range(10, 12))])
    assert [ours[i] for i in range(-6, 6)] == [theirs[i] for i in range(-6, 6)]
    assert ours.cumulative_sizes == theirs.cumulative_sizes
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        ours[-7]
    with pytest.raises(TypeError, match="ConcatDataset: got the IterableDataset"):
        ConcatDataset([Stream(3)])
    sub = Subset(ds, [3, 1])
    assert len(sub) == 2 and int(sub[0][1]) == 0 and [int(b) for _, b in sub.__getitems__([1, 0])] == [0, 0]

    class Bad(Subset):
        def __getitem__(self, i):
            return 0

    with pytest.raises(NotImplementedError, match="Bad: overrides __getitem__ but not __getitems__"):
        Bad(ds, [0])
    assert list(Stream(2) + Stream(3)) == [0, 1, 0, 1, 2]  # ChainDataset


# -- default_collate against torch's -----------------------------------------------------------


class Point(NamedTuple):
    x: object
    y: object


def to_torch(item):
    """The same example with torch tensors where ours has chainrule Tensors."""
    if isinstance(item, cr.Tensor):
        return torch.from_numpy(item.numpy().copy())
    if isinstance(item, Point):
        return Point(*(to_torch(v) for v in item))
    if isinstance(item, dict):
        return type(item)((k, to_torch(v)) for k, v in item.items())
    if isinstance(item, (list, tuple)):
        return type(item)(to_torch(v) for v in item)
    return item


def same(ours, theirs, where="batch"):
    """Same structure (container types, keys, lengths), and leaves with the same values, dtype and shape."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, cr.Tensor), f"{where}: {type(ours).__name__}, torch has a tensor"
        assert ours.shape == tuple(theirs.shape), f"{where}: shape {ours.shape} vs {tuple(theirs.shape)}"
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch."), f"{where}: {ours.dtype} vs {theirs.dtype}"
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=where)
        return
    assert type(ours) is type(theirs), f"{where}: {type(ours).__name__} vs torch's {type(theirs).__name__}"
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), where
        for k in theirs:
            same(ours[k], theirs[k], f"{where}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            same(a, b, f"{where}[{i}]")
    else:
        assert ours == theirs, where


BATCHES = {
    "ints": [0, 1, 2],
    "floats": [0.5, 1.5],
    "bools": [True, False],
    "an int then a float": [1, 2.5],
    "float32 arrays": [np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32)],
    "float64 arrays": [np.arange(3.0), np.arange(3.0) + 1],
    "int32 arrays": [np.arange(2, dtype=np.int32), np.arange(2, dtype=np.int32)],
    "0-d arrays": [np.array(1.5), np.array(2.5)],
    "numpy scalars": [np.float32(1.0), np.float32(2.0)],
    "numpy ints": [np.int16(3), np.int16(4)],
    "strings": ["a", "b"],
    "bytes": [b"a", b"b"],
    "chainrule tensors": [cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])],
    "float64 tensors": [cr.Tensor([1.0], dtype="float64"), cr.Tensor([2.0], dtype="float64")],
    "tuples": [(np.zeros(2), 1, "a"), (np.ones(2), 2, "b")],
    "lists": [[1, 2.0], [3, 4.0]],
    "dicts": [{"x": np.zeros(2, np.float32), "y": 1}, {"x": np.ones(2, np.float32), "y": 0}],
    "ordered dicts": [collections.OrderedDict(b=1, a=2.0), collections.OrderedDict(b=3, a=4.0)],
    "namedtuples": [Point(1, np.zeros(2)), Point(2, np.ones(2))],
    "nested": [{"pair": (1, [2.0, "s"]), "p": Point(cr.Tensor([1.0]), {"k": 3})},
               {"pair": (4, [5.0, "t"]), "p": Point(cr.Tensor([2.0]), {"k": 6})}],
}  # fmt: skip


@pytest.mark.parametrize("name", BATCHES)
def test_default_collate_matches_torch(name):
    batch = BATCHES[name]
    same(default_collate(batch), tud.default_collate([to_torch(b) for b in batch]), name)


@pytest.mark.parametrize("name", ["float64 arrays", "numpy scalars", "tuples", "dicts", "namedtuples", "strings"])
def test_default_convert_matches_torch(name):
    for example in BATCHES[name]:
        same(data.default_convert(example), tud.default_convert(to_torch(example)), name)


@pytest.mark.parametrize("batch, error, words", [
    ([[1, 2], [3]], RuntimeError, "each element in list of batch should be of equal size"),
    ([1j, 2j], TypeError, "default_collate: batch must contain tensors, numpy arrays, numbers"),
    ([np.array(["a"]), np.array(["b"])], TypeError, "default_collate: batch must contain"),
    ([np.zeros(2), np.zeros(3)], RuntimeError, r"stack expects each tensor to be equal size"),
])  # fmt: skip
def test_default_collate_refuses_what_torch_refuses(batch, error, words):
    with pytest.raises(error, match=words):
        default_collate(batch)
    with pytest.raises(error):
        tud.default_collate([torch.from_numpy(b) if isinstance(b, np.ndarray) and b.dtype.kind != "U" else b
                             for b in batch])  # fmt: skip


# -- DataLoader ----------------------------------------------------------------------------------


class Rows(Dataset):
    """Example i: (a float64 row, an int label, a string, a dict), as a user's dataset might give."""

    def __init__(self, n: int = 10, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"cannot read example {i}")
        return np.array([i, i * 0.5]), i, f"s{i}", {"w": float(i)}


class Stream(IterableDataset):
    """0 .. n-1; in workers, each takes its share (every num_workers-th item)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))

    def __len__(self):
        return self.n


class Late(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 0:
            time.sleep(0.3)
        return i


class Broken(IterableDataset):
    """A stream that fails at its fourth item, in worker 1 only."""

    def __iter__(self):
        for i in range(6):
            if i == 3 and get_worker_info().id == 1:
                raise ValueError("a bad record")
            yield i


class WhoAmI(Dataset):
    """Each example says which process read it, with which seed and worker info."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return {"i": i, "pid": os.getpid(), "worker": -1 if info is None else info.id,
                "seed": -1 if info is None else info.seed, "tag": getattr(self, "tag", -1),
                "numpy": float(np.random.random()), "chainrule": float(cr.rng.generator().random())}  # fmt: skip


def tag_worker(worker_id: int) -> None:
    get_worker_info().dataset.tag = 100 + worker_id  # the worker's own copy


def values(batches):
    """Batches as plain nested lists (Tensors as lists), for comparing two runs."""
    if isinstance(batches, cr.Tensor):
        return batches.numpy().tolist()
    if isinstance(batches, dict):
        return {k: values(v) for k, v in batches.items()}
    if isinstance(batches, (list, tuple)):
        return [values(b) for b in batches]
    return batches


def test_loader_batches_as_torch_does():
    ds = Rows(7)
    for kwargs in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {}, {"batch_size": None},
                   {"batch_sampler": [[4, 0], [6]]}, {"batch_size": 2, "sampler": [6, 5, 1]},
                   {"batch_size": 4, "collate_fn": lambda items: [i for _, i, _, _ in items]}):  # fmt: skip
        ours, theirs = list(DataLoader(ds, **kwargs)), list(tud.DataLoader(ds, **kwargs))
        same(ours, theirs, str(kwargs))
        assert len(DataLoader(ds, **kwargs)) == len(tud.DataLoader(ds, **kwargs)), kwargs


def test_loader_defaults_are_torchs():
    loader = DataLoader(Rows(3))
    assert loader.batch_size == 1 and not loader.drop_last and loader.num_workers == 0
    assert isinstance(loader.sampler, SequentialSampler) and loader.collate_fn is default_collate
    assert isinstance(DataLoader(Rows(3), shuffle=True).sampler, RandomSampler)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after DataLoader is initialized"):
        loader.batch_size = 4


def test_loader_keeps_chainrules_seeded_epochs_and_fast_path():
    x = np.arange(20.0).reshape(10, 2)
    ds = data.ArrayDataset(x, np.arange(10))
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=7)
    epochs = [[y.numpy().tolist() for _, y in loader] for _ in range(2)]
    for e, batches in enumerate(epochs):
        assert sum(batches, []) == data.epoch_order(10, 7, e).tolist()  # the order of epoch e: (seed, e) alone
    batch = next(iter(loader))
    assert type(batch) is tuple and batch[0].dtype == np.float32  # the ArrayDataset path, as before
    part = random_split(ds, [0.5, 0.5], generator=g(0))[1]
    x_part, y_part = next(iter(DataLoader(part, batch_size=5)))  # a Subset of it reads the same way
    assert x_part.dtype == np.float32 and y_part.numpy().tolist() == part.indices
    again = DataLoader(ds, batch_size=4, shuffle=True, seed=7)
    again.set_epoch(1)
    assert [y.numpy().tolist() for _, y in again] == epochs[1]
    sampler = cr.distributed.DistributedSampler(ds, seed=3, world=2, rank=1)  # indices(epoch): the older protocol
    shard = DataLoader(ds, batch_size=2, shuffle=True, sampler=sampler)  # as fit passes them: the sampler orders
    shard.set_epoch(4)
    assert sum((y.numpy().tolist() for _, y in shard), []) == sampler.indices(4).tolist() and len(shard) == 3


def test_loader_with_a_generator_repeats_from_its_seed():
    ds = Rows(9)
    runs = [[b[1].tolist() for b in DataLoader(ds, batch_size=4, shuffle=True, generator=g(11))] for _ in range(2)]
    assert runs[0] == runs[1] and sorted(sum(runs[0], [])) == list(range(9))
    loader = DataLoader(ds, batch_size=9, shuffle=True, generator=g(11))
    assert next(iter(loader))[1].tolist() != next(iter(loader))[1].tolist()  # the generator moves on each epoch


def test_loader_over_an_iterable_dataset():
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in DataLoader(Stream(7), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    assert [int(b) for b in DataLoader(Stream(3), batch_size=None)] == [0, 1, 2]
    assert len(DataLoader(Stream(7), batch_size=3)) == 3


@pytest.mark.parametrize("kwargs, error, words", [
    ({"num_workers": -1}, ValueError, "num_workers option should be a non-negative int"),
    ({"timeout": -1}, ValueError, "timeout option should be non-negative"),
    ({"prefetch_factor": 2}, ValueError, "prefetch_factor=2 could only be specified in multiprocessing"),
    ({"persistent_workers": True}, ValueError, "persistent_workers option needs num_workers > 0"),
    ({"sampler": [0, 1], "shuffle": True}, ValueError, "sampler option is mutually exclusive with shuffle"),
    ({"batch_sampler": [[0]], "batch_size": 4}, ValueError, "batch_sampler option is mutually exclusive"),
    ({"batch_sampler": [[0]], "drop_last": True}, ValueError, "batch_sampler option is mutually exclusive"),
    ({"batch_size": None, "drop_last": True}, ValueError, "batch_size=None option disables auto-batching"),
    ({"batch_size": 0}, ValueError, r"DataLoader: batch_size=0; expected an int >= 1"),
    ({"multiprocessing_context": "spawn"}, ValueError, "can only be used with multi-process loading"),
    ({"num_workers": 1, "multiprocessing_context": "nope"}, ValueError, "expected a start method in"),
    ({"dataset": Stream(3), "shuffle": True}, ValueError, "IterableDataset: expected unspecified shuffle option"),
    ({"dataset": Stream(3), "sampler": [0]}, ValueError, "IterableDataset: expected unspecified sampler option"),
])  # fmt: skip
def test_loader_argument_errors_as_torch(kwargs, error, words):
    kwargs = {"dataset": Rows(3)} | kwargs
    with pytest.raises(error, match=words):
        DataLoader(**kwargs)
    with pytest.raises(error):  # torch refuses it too
        tud.DataLoader(**(kwargs | ({"dataset": TorchStream()} if isinstance(kwargs["dataset"], Stream) else {})))


class TorchStream(tud.IterableDataset):
    def __iter__(self):
        return iter(range(3))


@pytest.mark.parametrize("kwargs, error, words", [
    ({"generator": 42}, TypeError, "DataLoader: generator is int; expected a numpy.random.Generator"),
    ({"seed": 1, "generator": np.random.default_rng(0)}, ValueError, "got both seed and generator"),
    ({"collate_fn": 3}, TypeError, "DataLoader: collate_fn is int; expected a callable"),
    ({"timeout": 2}, ValueError, r"timeout=2 needs num_workers > 0"),
])  # fmt: skip
def test_loader_argument_errors_of_its_own(kwargs, error, words):
    with pytest.raises(error, match=words):
        DataLoader(Rows(3), **kwargs)


# -- worker processes ----------------------------------------------------------------------------


def live_workers(it) -> list:
    return [w for w in it._pool.workers if w.is_alive()]


def test_workers_give_the_in_process_batches_in_order():
    arrays = data.ArrayDataset(np.arange(22.0).reshape(11, 2), np.arange(11))
    for ds, kwargs in [(Rows(11), lambda: {"batch_size": 3, "shuffle": True, "seed": 4}),
                       (arrays, lambda: {"batch_size": 4, "shuffle": True, "seed": 5}),
                       (Rows(5), lambda: {"batch_size": None}),
                       (Rows(7), lambda: {"batch_size": 2, "shuffle": True, "generator": g(3)})]:  # fmt: skip
        runs = []
        for workers in (0, 2):
            loader = DataLoader(ds, num_workers=workers, **kwargs())
            loader.set_epoch(2)
            runs.append(values(list(loader)))
        assert runs[0] == runs[1], kwargs()
    late = Late()  # batch 0 comes back last: held until its turn, or (in_order=False) yielded as it comes
    assert [b.tolist() for b in DataLoader(late, batch_size=2, num_workers=2)] == [[0, 1], [2, 3], [4, 5]]
    assert [b.tolist() for b in DataLoader(late, batch_size=2, num_workers=2, in_order=False)][0] != [0, 1]


def test_workers_split_an_iterable_dataset():
    batches = [b.tolist() for b in DataLoader(Stream(10), batch_size=2, num_workers=2)]
    assert sorted(sum(batches, [])) == list(range(10))
    assert batches[:2] == [[0, 2], [1, 3]]  # worker 0 holds the evens, worker 1 the odds; turns alternate


def test_a_workers_exception_names_the_worker_and_the_index():
    it = iter(DataLoader(Rows(10, fail_at=7), batch_size=3, num_workers=2))
    with pytest.raises(ValueError, match=r"(?s)DataLoader worker 0 on index 7 \(of the batch \[6, 7, 8\]\).*cannot read example 7"):
        list(it)
    workers = it._pool.workers
    del it  # dropped after the error: its workers go
    gc.collect()
    for w in workers:
        w.join(timeout=5)
    assert not any(w.is_alive() for w in workers)

    class LocalError(Exception):  # cannot be pickled by reference: comes back as a RuntimeError
        pass

    def collate(items):
        raise LocalError("no")

    with pytest.raises(RuntimeError, match=r"Caught LocalError in DataLoader worker 0 on collating the batch \[0, 1\]"):
        next(iter(DataLoader(Rows(4), batch_size=2, num_workers=1, collate_fn=collate)))
    with pytest.raises(ZeroDivisionError, match=r"Caught ZeroDivisionError in DataLoader worker 0 on worker_init_fn"):
        next(iter(DataLoader(Rows(4), batch_size=2, num_workers=1, worker_init_fn=lambda i: 1 / 0)))
    with pytest.raises(ValueError, match=r"DataLoader worker 1 on item 3 of the dataset's stream"):
        list(DataLoader(Broken(), batch_size=2, num_workers=2))


def test_worker_init_fn_worker_info_and_seeds():
    loader = DataLoader(WhoAmI(), batch_size=2, num_workers=2, worker_init_fn=tag_worker, seed=1)
    batches = list(loader)
    rows = [dict(zip(b, vals)) for b in batches for vals in zip(*(b[k].tolist() for k in b))]
    assert {r["worker"] for r in rows} == {0, 1} and all(r["pid"] != os.getpid() for r in rows)
    assert all(r["tag"] == 100 + r["worker"] for r in rows)  # worker_init_fn ran in each worker, on its copy
    seeds = {r["worker"]: r["seed"] for r in rows}
    assert seeds[1] == seeds[0] + 1  # base seed + worker id
    first = {r["worker"]: (r["numpy"], r["chainrule"]) for r in rows if r["i"] < 4}
    assert first[0] != first[1]  # each worker draws its own numbers
    loader.set_epoch(0)  # new workers, the same epoch: the same seeds and draws
    again = [dict(zip(b, vals)) for b in loader for vals in zip(*(b[k].tolist() for k in b))]
    assert [(r["numpy"], r["chainrule"], r["seed"]) for r in again] == [(r["numpy"], r["chainrule"], r["seed"]) for r in rows]
    assert get_worker_info() is None


def test_persistent_workers_are_reused_and_reseeded():
    loader = DataLoader(WhoAmI(), batch_size=4, num_workers=2, persistent_workers=True, seed=2)
    epochs = [list(loader) for _ in range(3)]
    pids = [{int(p) for b in e for p in b["pid"].tolist()} for e in epochs]
    assert pids[0] == pids[1] == pids[2] and len(pids[0]) == 2
    seeds = [sorted({int(s) for b in e for s in b["seed"].tolist()}) for e in epochs]
    assert seeds[0] != seeds[1]  # reseeded each epoch, from (seed, epoch)
    half = iter(loader)
    next(half)  # break off mid-epoch: the next epoch must not see this one's leftovers
    assert [b["i"].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    fresh = DataLoader(WhoAmI(), batch_size=4, num_workers=2, seed=2)
    fresh.set_epoch(1)
    same_draws = [b["numpy"].tolist() for b in fresh]
    assert same_draws == [b["numpy"].tolist() for b in epochs[1]]  # the draws of epoch 1 depend on (seed, 1) alone
    workers = loader._iterator._pool.workers
    del loader, half
    gc.collect()
    for w in workers:
        w.join(timeout=5)
    assert not any(w.is_alive() for w in workers)


def test_workers_shut_down_on_break_and_on_exhaustion():
    it = iter(DataLoader(Rows(40), batch_size=2, num_workers=2))
    next(it)
    workers = it._pool.workers
    assert len(live_workers(it)) == 2
    del it
    gc.collect()
    for w in workers:
        w.join(timeout=5)
    assert not any(w.is_alive() for w in workers)
    it = iter(DataLoader(Rows(4), batch_size=2, num_workers=2))
    assert len(list(it)) == 2 and not live_workers(it)  # the pass ended: its workers are gone


class Crash(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 2:
            os._exit(3)
        return i


class Slow(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        time.sleep(0.5)
        return i


def test_a_dead_worker_and_a_timeout_are_errors_not_hangs():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \d \(pid \d+\) exited unexpectedly with exit code 3"):
        list(DataLoader(Crash(), batch_size=1, num_workers=2))
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.1 seconds"):
        list(DataLoader(Slow(), batch_size=1, num_workers=1, timeout=0.1))


def test_spawned_workers():
    """A spawned worker gets everything by pickle (a chainrule dataset here: its import is quick)."""
    ds = TensorDataset(np.arange(8.0).reshape(4, 2), cr.Tensor([0, 1, 2, 3]))
    out = values(list(DataLoader(ds, batch_size=3, num_workers=1, multiprocessing_context="spawn")))
    assert out == values(list(DataLoader(ds, batch_size=3))) == [[[[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]], [0, 1, 2]],
                                                                 [[[6.0, 7.0]], [3]]]  # fmt: skip


class _BlasThreads(cr.data.Dataset):
    """Each item: how many threads NumPy's BLAS would use in the process that reads it."""

    def __len__(self):
        return 2

    def __getitem__(self, i):
        from threadpoolctl import threadpool_info

        return max([p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"], default=-1)


def test_spawned_workers_use_one_blas_thread_and_forked_ones_are_left_alone():
    # a forked worker keeps the main process's BLAS setting, as PyTorch's do: setting OpenBLAS's
    # count in a fork restarts its pool, whose spinning threads cost a 1 ms-per-item dataset 12%
    pytest.importorskip("threadpoolctl")
    main = _BlasThreads()[0]
    forked = [int(x) for x in DataLoader(_BlasThreads(), batch_size=None, num_workers=1, multiprocessing_context="fork")]
    spawned = [int(x) for x in DataLoader(_BlasThreads(), batch_size=None, num_workers=1,
                                          multiprocessing_context="spawn")]  # fmt: skip
    assert forked == [main, main]
    assert spawned == [1, 1] or main == -1
