"""Datasets and batching: per-utterance inputs from feature tables or raw text, padded batches.

A batch is ``(inputs, targets)`` where ``inputs`` holds one ``(values, lengths)`` pair per
system input: ``(batch, dim)`` with ``None`` lengths for vectors, zero-padded
``(batch, frames, dim)`` with ``(batch,)`` lengths for sequences, and a list of strings for text.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torch.utils.data import Sampler

from emofuse.models.batching import collate_input
from emofuse.models.inputs import InputSpec

InputValues = Mapping[str, np.ndarray] | Mapping[str, str]
Transform = Callable[[np.ndarray, random.Random], np.ndarray]


class UtteranceDataset(Dataset):
    """Items ``([input_0, input_1, ...], target)`` for ``ids``.

    ``transforms`` (one per input, or ``None``) are applied to arrays in training, for random
    crops and SpecAugment; they get a ``random.Random`` seeded per item and epoch.
    """

    def __init__(
        self,
        ids: Sequence[str],
        inputs: Sequence[InputValues],
        targets: torch.Tensor | None = None,
        *,
        transforms: Sequence[Transform | None] | None = None,
        seed: int = 0,
    ) -> None:
        self.ids = list(ids)
        self.inputs = list(inputs)
        self.targets = targets
        self.transforms = list(transforms) if transforms is not None else [None] * len(self.inputs)
        self.seed = seed
        self.epoch = 0
        for values in self.inputs:
            missing = [i for i in self.ids if i not in values]
            if missing:
                raise KeyError(f"{len(missing)} utterances have no input values (first: {missing[0]})")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[list[object], torch.Tensor | None]:
        identifier = self.ids[index]
        rng = random.Random(hash((self.seed, self.epoch, index)))
        item = []
        for values, transform in zip(self.inputs, self.transforms, strict=True):
            value = values[identifier]
            if transform is not None and isinstance(value, np.ndarray):
                value = transform(value, rng)
            item.append(value)
        target = self.targets[index] if self.targets is not None else None
        return item, target

    def length(self, index: int) -> int:
        """Length of an item's longest input, for length bucketing: frames of a sequence, samples
        of a waveform, characters of a text (a fixed-size vector counts the same for every item)."""
        identifier = self.ids[index]
        lengths = [len(value) for value in (v[identifier] for v in self.inputs) if isinstance(value, (np.ndarray, str))]
        return max(lengths, default=1)


class Collator:
    """Batches of ``([value per input], target)`` items: one model input per system input
    (:func:`emofuse.models.batching.collate_input`) and the stacked targets."""

    def __init__(self, specs: Sequence[InputSpec]) -> None:
        self.kinds = [spec.kind for spec in specs]

    def __call__(self, batch: Sequence[tuple[list[object], torch.Tensor | None]]) -> tuple[list, torch.Tensor | None]:
        columns = list(zip(*[item[0] for item in batch], strict=True))
        inputs = [collate_input(kind, column) for kind, column in zip(self.kinds, columns, strict=True)]
        targets = [item[1] for item in batch]
        stacked = None if targets[0] is None else torch.stack(targets)  # type: ignore[arg-type]
        return inputs, stacked


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of items of similar length: shuffle, sort within large pools, batch, shuffle batches.

    Cuts padding for sequence models (``length_bucketing: true``). Under DDP every process draws
    the same batches and takes every ``world_size``-th one (the list padded to a multiple of
    ``world_size`` with its first batches), so the processes take equal shares; the process group
    is read when iterating, inside the worker process (``ddp_spawn`` pickles the sampler).
    """

    def __init__(self, lengths: Sequence[int], *, batch_size: int, seed: int = 0, pool_factor: int = 50) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.pool = batch_size * pool_factor
        self.epoch = 0  # set by the trainer at the start of each epoch (EmotionModule.on_train_epoch_start)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        # a generator: the order is drawn at the first batch, after the trainer has set this epoch
        # (an iterator made earlier, as Lightning does when it counts the steps of a schedule, must
        # not fix the epoch it was made in)
        rng = random.Random(self.seed * 100003 + self.epoch)
        self.epoch += 1
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        batches = []
        for start in range(0, len(order), self.pool):
            pool = sorted(order[start : start + self.pool], key=lambda i: self.lengths[i])
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        rng.shuffle(batches)
        rank, world = process_group()
        if world > 1:
            batches += batches[: -len(batches) % world]
            batches = batches[rank::world]
        yield from batches

    def __len__(self) -> int:
        batches = sum(
            -(-min(self.pool, len(self.lengths) - start) // self.batch_size)
            for start in range(0, len(self.lengths), self.pool)
        )
        return -(-batches // process_group()[1])


def process_group() -> tuple[int, int]:
    """(rank, world size) of the running torch.distributed group, (0, 1) outside one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def fit_rows(values: Mapping[str, np.ndarray], ids: Sequence[str], *, max_rows: int = 2_000_000) -> torch.Tensor:
    """Rows for standardisation statistics: vectors, or frames of sequences (a random
    ``max_rows`` of them when there are more).

    The rows of all utterances in ``ids`` order, or the same random subset of them, gathered
    one utterance at a time: never more than ``max_rows`` rows are held (features in a store
    may not fit in memory), and the result is the same either way.
    """
    shape = getattr(values, "shape", None)  # a StoreTable knows shapes without reading values
    counts = []
    for identifier in ids:
        dims = shape(identifier) if callable(shape) else np.shape(values[identifier])
        counts.append(int(np.prod(dims[:-1], dtype=np.int64)))
    total = sum(counts)
    if total <= max_rows:
        arrays = [np.asarray(values[i]) for i in ids]
        return torch.from_numpy(np.concatenate([a.reshape(-1, a.shape[-1]) for a in arrays], axis=0))
    chosen = np.random.default_rng(0).choice(total, max_rows, replace=False)
    order = np.argsort(chosen, kind="stable")
    wanted = chosen[order]  # ascending row numbers
    gathered = []
    start = 0
    for identifier, count in zip(ids, counts, strict=True):
        low, high = np.searchsorted(wanted, [start, start + count])
        if high > low:
            array = np.asarray(values[identifier])
            gathered.append(array.reshape(-1, array.shape[-1])[wanted[low:high] - start])
        start += count
    rows = np.empty((max_rows, gathered[0].shape[-1]), dtype=gathered[0].dtype)
    rows[order] = np.concatenate(gathered)
    return torch.from_numpy(rows)
