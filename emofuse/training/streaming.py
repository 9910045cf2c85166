"""Training batches streamed from a sharded feature store, with a shuffle buffer and length
bucketing.

:class:`StreamingDataset` is the ``IterableDataset`` that :func:`~emofuse.training.lightning.fit_neural`
trains from when a system's inputs come from a store (:class:`~emofuse.store.StoreTable`).
An epoch visits the store's shards in a shuffled order and takes the training utterances they
hold ``buffer`` at a time (a *window*, which spans a few consecutive shards, so reads stay
local). Each window is shuffled and cut into batches exactly as the in-memory loader does with
the whole training set:

- without length bucketing, a random permutation of the window (the ``RandomSampler`` draw),
  batches taken in order across windows, a final batch of one dropped;
- with length bucketing, :class:`~emofuse.training.data.BucketBatchSampler`'s recipe: shuffle,
  sort pools of ``50 * batch_size`` by length, batch, shuffle the window's batches.

A window is put in the training set's order before it is shuffled, so a buffer that holds the
whole training set gives exactly the in-memory batches (the same seed gives the same scores).
Under DDP every process builds the same batches and takes every ``world_size``-th one (the few
left over at the end of an epoch are skipped, so that every process runs as many steps);
DataLoader workers split a process's batches the same way.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset
from torch.utils.data import get_worker_info

from emofuse.store import StoreTable
from emofuse.training.data import Collator
from emofuse.training.data import process_group

#: Pool of a length-bucketing window, in batches (as :class:`~emofuse.training.data.BucketBatchSampler`).
POOL_FACTOR = 50


def uses_store(inputs: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any of ``inputs`` is read from a feature store (then training streams)."""
    return any(isinstance(values, StoreTable) for values in inputs)


class StreamingDataset(IterableDataset):
    """Collated training batches of ``ids`` (see the module docstring).

    ``inputs`` holds one mapping per system input (the first :class:`StoreTable` among them
    sets the shard order); ``targets`` one row per id; ``buffer`` is the window size in
    utterances. ``set_epoch`` chooses the epoch's order (the training module calls it).
    """

    def __init__(self, ids: Sequence[str], inputs: Sequence[Mapping[str, Any]], targets: torch.Tensor | None,
                 collate: Collator, *, batch_size: int, buffer: int, bucketing: bool = False, seed: int = 0) -> None:
        if buffer < batch_size:
            raise ValueError(f"the shuffle buffer ({buffer}) must hold at least one batch ({batch_size})")
        self.ids = list(ids)
        self.inputs = list(inputs)
        self.targets = targets
        self.collate = collate
        self.batch_size = batch_size
        self.buffer = buffer
        self.bucketing = bucketing
        self.seed = seed
        self.epoch = 0
        stores = [values for values in self.inputs if isinstance(values, StoreTable)]
        if not stores:
            raise ValueError("streaming needs at least one input read from a feature store")
        for values in self.inputs:
            missing = [i for i in self.ids if i not in values]
            if missing:
                raise KeyError(f"{len(missing)} utterances have no input values (first: {missing[0]})")
        by_shard: dict[int, list[tuple[int, int]]] = {}
        for position, identifier in enumerate(self.ids):
            shard, row = stores[0].location(identifier)
            by_shard.setdefault(shard, []).append((row, position))
        self.shards = {shard: [p for _, p in sorted(rows)] for shard, rows in sorted(by_shard.items())}
        self.lengths = [self._length(i) for i in self.ids] if bucketing else None

    def _length(self, identifier: str) -> int:
        """Length of the longest input, as :meth:`UtteranceDataset.length` (frames, samples,
        characters), with shapes from the store's index instead of its rows."""
        lengths = []
        for values in self.inputs:
            if isinstance(values, StoreTable):
                shape = values.shape(identifier)
                if len(shape) >= 1:
                    lengths.append(shape[0])
                continue
            value = values[identifier]
            if isinstance(value, (np.ndarray, str)):
                lengths.append(len(value))
        return max(lengths, default=1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    # The epoch's batches ---------------------------------------------------------------------
    def windows(self) -> list[list[int]]:
        """The epoch's windows: positions of ``ids``, ``buffer`` at a time, shards in a shuffled order."""
        order = list(self.shards)
        random.Random(f"shards {self.seed} {self.epoch}").shuffle(order)
        stream = [p for shard in order for p in self.shards[shard]]
        return [sorted(stream[start : start + self.buffer]) for start in range(0, len(stream), self.buffer)]

    def batches(self, *, shared_seed: int | None = None) -> list[list[int]]:
        """Every batch of the epoch (positions of ``ids``), before they are dealt to processes.

        Without bucketing the permutations are drawn from a generator seeded with
        ``shared_seed``, or, when it is ``None``, from the global torch generator, as
        ``RandomSampler`` draws it."""
        windows = self.windows()
        if self.bucketing:
            assert self.lengths is not None
            lengths = self.lengths
            rng = random.Random(self.seed * 100003 + self.epoch)
            pool = self.batch_size * POOL_FACTOR
            batches: list[list[int]] = []
            for window in windows:
                rng.shuffle(window)
                local = []
                for start in range(0, len(window), pool):
                    sorted_pool = sorted(window[start : start + pool], key=lambda p: lengths[p])
                    local += [sorted_pool[i : i + self.batch_size] for i in range(0, len(sorted_pool), self.batch_size)]
                rng.shuffle(local)
                batches += local
            return batches
        if shared_seed is None:
            shared_seed = int(torch.empty((), dtype=torch.int64).random_().item())
        generator = torch.Generator()
        generator.manual_seed(shared_seed)
        stream = []
        for window in windows:
            stream += [window[k] for k in torch.randperm(len(window), generator=generator).tolist()]
        batches = [stream[i : i + self.batch_size] for i in range(0, len(stream), self.batch_size)]
        if len(stream) > 1 and len(stream) % self.batch_size == 1:  # a batch of one would break batch norm
            batches.pop()
        return batches

    def _count(self) -> int:
        """Batches in an epoch, before they are dealt to processes."""
        sizes = [min(self.buffer, len(self.ids) - start) for start in range(0, len(self.ids), self.buffer)]
        if self.bucketing:
            pool = self.batch_size * POOL_FACTOR
            return sum(-(-min(pool, size - start) // self.batch_size) for size in sizes for start in range(0, size, pool))
        total = len(self.ids)
        return -(-total // self.batch_size) - (1 if total > 1 and total % self.batch_size == 1 else 0)

    # Iteration ------------------------------------------------------------------------------
    def __len__(self) -> int:
        _, world = process_group()
        return self._count() // world if world > 1 else self._count()

    def __iter__(self) -> Iterator[tuple[list, torch.Tensor | None]]:
        rank, world = process_group()
        worker = get_worker_info()
        shared_seed = None
        if world > 1 or worker is not None:  # the same order in every process: no process-local draw
            shared_seed = (worker.seed - worker.id) if worker is not None and world == 1 else self.seed * 100003 + self.epoch
        batches = self.batches(shared_seed=shared_seed)
        if world > 1:
            batches = batches[rank::world][: len(batches) // world]
        if worker is not None:
            batches = batches[worker.id :: worker.num_workers]
        for batch in batches:
            items = [([values[self.ids[p]] for values in self.inputs],
                      None if self.targets is None else self.targets[p]) for p in batch]
            yield self.collate(items)
