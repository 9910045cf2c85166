"""The sharded feature store's format: plan, shards, reading back, damage (no Lightning here)."""

import json

import numpy as np
import pytest

from emofuse.config import Component
from emofuse.store import FeatureStore
from emofuse.store import StoreError
from emofuse.store import StoreTable

CONFIG = Component("logmel", {"n_mels": 4})


def write(store, shard, rows):
    """Write ``rows`` ((id, key, array or error message)) as ``shard``, two per step."""
    writer = store.writer(shard)
    for start in range(0, len(rows), 2):
        part = rows[start : start + 2]
        writer.write([r[0] for r in part], [r[1] for r in part],
                     [r[2] if not isinstance(r[2], str) else None for r in part],
                     [r[2] if isinstance(r[2], str) else None for r in part])
    return writer.commit()


def frames(seed, length, dim=4):
    return np.random.default_rng(seed).standard_normal((length, dim)).astype(np.float32)


def test_plan_shards_and_read_back(tmp_path):
    store = FeatureStore(tmp_path, "logmel", CONFIG, shard_size=3)
    entries = [(f"u{k}", f"key{k}") for k in range(7)]
    assert store.plan(entries) == [0, 1, 2]
    assert store.index().members(2) == [("u6", "key6")]
    assert store.missing([0, 1, 2]) == [0, 1, 2]
    arrays = {f"u{k}": frames(k, 2 + k) for k in range(7)}
    for shard in range(3):
        write(store, shard, [(i, k, arrays[i]) for i, k in store.index().members(shard)])
    assert store.missing([0, 1, 2]) == []
    table, failures = store.table(entries)
    assert isinstance(table, StoreTable) and failures == {}
    assert list(table) == [i for i, _ in entries]
    for identifier, array in arrays.items():
        assert np.array_equal(table[identifier], array) and table[identifier].dtype == np.float32
    assert table.shape("u3") == (5, 4) and table.location("u4") == (1, 1)
    assert not table["u0"].flags.writeable  # a view of the memory-mapped shard, not a copy


def test_new_utterances_and_changed_keys_are_appended_as_new_shards(tmp_path):
    store = FeatureStore(tmp_path, "logmel", CONFIG, shard_size=2)
    assert store.plan([("a", "1"), ("b", "1"), ("c", "1")]) == [0, 1]
    # b's audio changed (new key), d is new: both go into new shards, a and c stay where they are
    assert store.plan([("a", "1"), ("b", "2"), ("c", "1"), ("d", "1")]) == [0, 1, 2]
    index = store.index()
    assert index.members(2) == [("b", "2"), ("d", "1")] and len(index) == 5
    assert store.plan([("a", "1"), ("b", "2")]) == [0, 2]  # planned once, not again


def test_float16_halves_the_values_and_reads_float32(tmp_path):
    array = frames(0, 1000, dim=8)
    sizes = {}
    for dtype in ("float32", "float16"):
        store = FeatureStore(tmp_path, "logmel", CONFIG, dtype=dtype, shard_size=4)
        store.plan([("a", "k")])
        sizes[dtype] = write(store, 0, [("a", "k", array)]).stat().st_size
        value = store.table([("a", "k")])[0]["a"]
        assert value.dtype == np.float32
        assert np.allclose(value, array, atol=2e-3) and (dtype == "float16") != np.array_equal(value, array)
    assert sizes["float16"] < 0.6 * sizes["float32"]
    assert FeatureStore(tmp_path, "logmel", CONFIG, dtype="float16").directory.name.endswith("-float16")


def test_failures_are_rows_with_errors(tmp_path):
    store = FeatureStore(tmp_path, "logmel", CONFIG, shard_size=4)
    entries = [("a", "k"), ("b", "k"), ("c", "k")]
    store.plan(entries)
    write(store, 0, [("a", "k", frames(0, 3)), ("b", "k", "unreadable audio"), ("c", "k", frames(1, 2))])
    table, failures = store.table(entries)
    assert failures == {"b": "unreadable audio"} and list(table) == ["a", "c"]


def test_values_that_do_not_fit_float16_are_failures(tmp_path):
    store = FeatureStore(tmp_path, "logmel", CONFIG, dtype="float16", shard_size=4)
    store.plan([("a", "k"), ("b", "k")])
    write(store, 0, [("a", "k", np.full((2, 4), 1e6, np.float32)), ("b", "k", frames(0, 2))])
    assert store.table([("a", "k"), ("b", "k")])[1] == {"a": "values do not fit float16"}


def test_damaged_or_foreign_shards_are_deleted_and_planned_again(tmp_path):
    store = FeatureStore(tmp_path, "logmel", CONFIG, shard_size=2)
    entries = [("a", "k"), ("b", "k"), ("c", "k")]
    store.plan(entries)
    write(store, 0, [("a", "k", frames(0, 2)), ("b", "k", frames(1, 2))])
    write(store, 1, [("c", "k", frames(2, 2))])
    path = store.shard_path(0)
    path.write_bytes(path.read_bytes()[:-100])  # truncated: no Arrow footer
    store.shard_path(1).write_bytes(store.shard_path(0).read_bytes())
    assert "unreadable" in store.problem(0)
    with pytest.raises(StoreError, match="2 shards cannot be read"):
        store.table(entries)
    assert store.missing([0, 1]) == [0, 1] and not path.exists() and not store.shard_path(1).exists()


def test_partial_files_are_not_shards_and_are_removed(tmp_path):
    store = FeatureStore(tmp_path, "logmel", CONFIG, shard_size=2)
    store.plan([("a", "k"), ("b", "k")])
    writer = store.writer(0)
    writer.write(["a"], ["k"], [frames(0, 2)], [None])  # killed here: the shard is not in place
    assert writer.partial.exists() and store.missing([0]) == [0] and store.shard_files() == []
    store.remove_partial(0)
    assert not writer.partial.exists()


def test_another_config_in_the_same_directory_is_refused(tmp_path):
    store = FeatureStore(tmp_path, "logmel", CONFIG)
    description = json.loads((store.directory / "store.json").read_text())
    assert description["format"] == "emofuse-feature-store" and description["config"] == {"name": "logmel", "n_mels": 4}
    description["config"]["n_mels"] = 8
    (store.directory / "store.json").write_text(json.dumps(description))
    with pytest.raises(StoreError, match="describes another store.*config"):
        FeatureStore(tmp_path, "logmel", CONFIG)


def test_reading_utterances_that_were_never_extracted_is_an_error(tmp_path):
    store = FeatureStore(tmp_path, "logmel", CONFIG)
    store.plan([("a", "k")])
    with pytest.raises(StoreError, match="not in the store"):
        store.table([("b", "k")])
    with pytest.raises(StoreError, match="shard 0, missing"):
        store.table([("a", "k")])


def test_a_table_survives_pickling_for_worker_processes(tmp_path):
    import pickle

    store = FeatureStore(tmp_path, "logmel", CONFIG)
    store.plan([("a", "k")])
    write(store, 0, [("a", "k", frames(0, 3))])
    table = store.table([("a", "k")])[0]
    assert np.array_equal(table["a"], frames(0, 3))  # maps the shard
    copy = pickle.loads(pickle.dumps(table))
    assert np.array_equal(copy["a"], frames(0, 3))
