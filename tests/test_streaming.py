"""Streaming training from a feature store: the batches against the in-memory loader's, windows,
processes, and whole runs that score the same from memory and from a store."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from emofuse.config import Component
from emofuse.experiment import load_experiment
from emofuse.models.inputs import InputSpec
from emofuse.store import FeatureStore
from emofuse.training import run_experiment
from emofuse.training.data import BucketBatchSampler
from emofuse.training.data import Collator
from emofuse.training.data import UtteranceDataset
from emofuse.training.data import fit_rows
from emofuse.training.streaming import StreamingDataset

SPECS = [InputSpec("frames", "audio", "sequence", 3), InputSpec("words", "text", "text", 0)]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """53 utterances of 1 to 40 frames in a store of 8-utterance shards, their texts and targets."""
    rng = np.random.default_rng(0)
    ids = [f"u{k:02d}" for k in range(53)]
    arrays = {i: rng.standard_normal((int(rng.integers(1, 40)), 3)).astype(np.float32) for i in ids}
    store = FeatureStore(tmp_path_factory.mktemp("store"), "frames", Component("frames", {}), shard_size=8)
    entries = [(i, "key") for i in ids]
    for shard in store.plan(entries):
        writer = store.writer(shard)
        members = [i for i, _ in store.index().members(shard)]
        writer.write(members, ["key"] * len(members), [arrays[i] for i in members], [None] * len(members))
        writer.commit()
    table = store.table(entries)[0]
    texts = {i: f"text {i}" for i in ids}
    return ids, table, arrays, texts, torch.arange(len(ids))


def same_batches(first, second):
    assert len(first) == len(second)
    for (inputs_a, targets_a), (inputs_b, targets_b) in zip(first, second, strict=True):
        assert torch.equal(targets_a, targets_b)
        assert torch.equal(inputs_a[0][0], inputs_b[0][0]) and torch.equal(inputs_a[0][1], inputs_b[0][1])
        assert inputs_a[1] == inputs_b[1]


@pytest.mark.parametrize("batch_size", [5, 4])  # 53 % 4 == 1: the in-memory loader drops a batch of one
def test_a_buffer_that_holds_everything_gives_the_in_memory_batches(stored, batch_size):
    ids, table, arrays, texts, targets = stored
    collate = Collator(SPECS)
    drop_last = len(ids) % batch_size == 1
    memory = DataLoader(UtteranceDataset(ids, [arrays, texts], targets), batch_size=batch_size, shuffle=True,
                        collate_fn=collate, drop_last=drop_last)
    stream = StreamingDataset(ids, [table, texts], targets, collate, batch_size=batch_size, buffer=len(ids))
    for epoch in range(2):
        torch.manual_seed(epoch)
        expected = list(memory)
        torch.manual_seed(epoch)
        stream.set_epoch(epoch)
        found = list(DataLoader(stream, batch_size=None, collate_fn=lambda b: b))
        same_batches(expected, found)
        assert len(stream) == len(found) == len(memory)


def test_with_length_bucketing_too(stored):
    ids, table, arrays, texts, targets = stored
    collate = Collator(SPECS)
    dataset = UtteranceDataset(ids, [arrays, texts], targets)
    sampler = BucketBatchSampler([dataset.length(k) for k in range(len(ids))], batch_size=4, seed=3, pool_factor=3)
    stream = StreamingDataset(ids, [table, texts], targets, collate, batch_size=4, buffer=100, bucketing=True, seed=3)
    import emofuse.training.streaming as streaming

    pool_factor = streaming.POOL_FACTOR
    streaming.POOL_FACTOR = 3  # several pools per window, as the sampler makes them
    try:
        for epoch in range(2):
            stream.set_epoch(epoch)
            same_batches(list(DataLoader(dataset, batch_sampler=sampler, collate_fn=collate)), list(stream))
            assert len(stream) == len(sampler)
    finally:
        streaming.POOL_FACTOR = pool_factor


@pytest.mark.parametrize("bucketing", [False, True])
def test_small_buffers_shuffle_within_windows_of_few_shards(stored, bucketing):
    ids, table, arrays, texts, targets = stored
    stream = StreamingDataset(ids, [table, texts], targets, Collator(SPECS), batch_size=5, buffer=12, bucketing=bucketing)
    windows = stream.windows()
    assert sorted(p for w in windows for p in w) == list(range(len(ids)))
    assert [len(w) for w in windows] == [12, 12, 12, 12, 5]
    for window in windows:  # 12 utterances come from at most 3 consecutive shards of 8 in the epoch's shard order
        assert len({table.location(ids[p])[0] for p in window}) <= 3
    torch.manual_seed(0)
    batches = stream.batches()
    assert len(batches) == len(stream) and sorted(p for b in batches for p in b) == list(range(len(ids)))
    stream.set_epoch(1)
    assert stream.windows() != windows  # another shard order every epoch
    if bucketing:  # batches group similar lengths
        spread = np.mean([np.ptp([stream.lengths[p] for p in b]) for b in batches if len(b) > 1])
        assert spread < 0.5 * np.ptp(stream.lengths)


def test_processes_take_equal_shares_of_the_same_batches(stored, monkeypatch):
    ids, table, arrays, texts, targets = stored
    stream = StreamingDataset(ids, [table, texts], targets, Collator(SPECS), batch_size=4, buffer=16, seed=1)
    everything = stream.batches(shared_seed=1 * 100003)
    shares = []
    for rank in range(3):
        monkeypatch.setattr("emofuse.training.streaming.process_group", lambda rank=rank: (rank, 3))
        shares.append([batch[1].tolist() for batch in stream])
        assert len(shares[-1]) == len(stream) == len(everything) // 3
    assert shares[1] == [b for b in everything[1::3]][: len(everything) // 3]
    seen = [p for share in shares for batch in share for p in batch]
    assert len(seen) == len(set(seen))  # no utterance twice in an epoch


def test_standardisation_rows_are_gathered_from_the_store(stored):
    ids, table, arrays, *_ = stored
    memory = np.concatenate([arrays[i] for i in ids])
    expected = memory[np.random.default_rng(0).choice(len(memory), 50, replace=False)]
    assert np.array_equal(fit_rows(table, ids, max_rows=50).numpy(), expected)
    assert np.array_equal(fit_rows(table, ids).numpy(), memory)


def experiment(manifest, cache, model, feature, *, store=None, buffer=10000, bucketing=False, **training_changes):
    training = {"max_epochs": 3, "batch_size": 5, "learning_rate": 0.01, "length_bucketing": bucketing,
                "shuffle_buffer": buffer, **training_changes}
    config = {
        "name": "streaming",
        "data": {"manifest": str(manifest)},
        "protocol": {"name": "holdout_session", "test_sessions": ["2"], "dev_fraction": 0.25},
        "seeds": [0],
        "features": {"f": feature},
        "extraction": {"cache_dir": str(cache)},
        "systems": {"audio": {"inputs": ["f"], "model": model, "training": training}},
    }
    if store is not None:
        config["extraction"]["store"] = {"path": str(store), "shard_size": 7}
    return load_experiment(config)


def predictions(directory):
    return pd.read_csv(directory / "results" / "predictions.csv").filter(like="p_").to_numpy()


@pytest.mark.parametrize("model, feature, bucketing", [
    ({"name": "mlp", "hidden_sizes": [16]}, {"name": "logmel_stats", "n_mels": 16}, False),
    ({"name": "pooling", "head": "attention", "hidden_sizes": [8]}, {"name": "logmel", "n_mels": 16}, True),
], ids=["vectors", "frames_bucketed"])
def test_a_run_from_a_store_scores_as_the_run_from_memory(tmp_path, shared_corpus, feature_cache, model, feature, bucketing):
    memory = run_experiment(experiment(shared_corpus, feature_cache, model, feature, bucketing=bucketing),
                            tmp_path / "memory", progress=False)
    streamed = run_experiment(experiment(shared_corpus, feature_cache, model, feature, bucketing=bucketing,
                                         store=tmp_path / "store"), tmp_path / "store_run", progress=False)
    assert (tmp_path / "store").is_dir()
    assert np.array_equal(predictions(tmp_path / "memory"), predictions(tmp_path / "store_run"))
    pd.testing.assert_frame_equal(memory.metrics, streamed.metrics)
    small = run_experiment(experiment(shared_corpus, feature_cache, model, feature, bucketing=bucketing, buffer=6,
                                      store=tmp_path / "store"), tmp_path / "small_buffer", progress=False)
    assert not np.array_equal(predictions(tmp_path / "memory"), predictions(tmp_path / "small_buffer"))
    assert small.metrics["UA"].notna().all()


@pytest.mark.parametrize("bucketing", [False, True])
def test_a_run_from_a_store_trains_on_two_processes(tmp_path, shared_corpus, feature_cache, bucketing):
    # forked workers map the shards themselves and stream their shares (dealt as the unit test
    # above checks: 18 training utterances in batches of 4 make 5 batches, 2 per process)
    from emofuse.rundir import RunDirectory

    config = experiment(shared_corpus, feature_cache, {"name": "pooling", "head": "mean", "hidden_sizes": [8]},
                        {"name": "logmel", "n_mels": 16}, store=tmp_path / "store", buffer=8, bucketing=bucketing,
                        batch_size=4, strategy="ddp_fork", devices=2, accelerator="cpu")
    result = run_experiment(config, tmp_path / "run", progress=False)
    assert result.metrics["UA"].notna().all()
    fold = RunDirectory(tmp_path / "run").fold("audio", 0, "holdout_2")
    assert fold.metrics()["fitted"]["epochs_trained"] == 3


def test_a_fold_resumed_from_its_checkpoint_streams_the_epochs_it_would_have(tmp_path, shared_corpus, feature_cache):
    import dataclasses

    from emofuse.systems.base import build_system
    from emofuse.training import Runner
    from emofuse.training.lightning import fit_neural
    from emofuse.training.seeding import seed_everything

    config = experiment(shared_corpus, feature_cache, {"name": "pooling", "head": "mean", "hidden_sizes": [8]},
                        {"name": "logmel", "n_mels": 16}, store=tmp_path / "store", buffer=6, bucketing=True,
                        selection="last")
    runner = Runner(config, tmp_path / "run", progress=False)
    main, _, task, folds = runner.prepare()
    train, dev = (runner.data("audio", task, main, ids) for ids in (folds[0].train, folds[0].dev))
    training = config.systems["audio"].training

    def fit(directory, epochs):  # as the runner does: seeded before the model is built
        seed_everything(0)
        system = build_system(runner.spec("audio", task, main))
        # no learning-rate schedule: a cosine schedule's length depends on max_epochs, which this
        # test changes between the two attempts (a real resume keeps it)
        fit_neural(system, train, dev, task=task, training=dataclasses.replace(training, max_epochs=epochs, scheduler="none"), seed=None,
                   directory=directory)
        return system.state_dict()

    uninterrupted = fit(tmp_path / "uninterrupted", 4)
    fit(tmp_path / "resumed", 2)
    resumed = fit(tmp_path / "resumed", 4)  # epochs 3 and 4 from the checkpoint of epoch 2
    assert all(np.array_equal(uninterrupted[name], resumed[name]) for name in uninterrupted)
