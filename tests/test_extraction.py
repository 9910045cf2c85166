"""Extraction into a feature store on Lightning's Trainer.predict: one process against two
(gloo, CPU), a worker killed in the middle of a shard, the CLI and the runner's own extraction.

The two-process runs fork (``ddp_fork``, and the killed run in a forked child process: they
start in a fraction of a second instead of importing Lightning again, as ``ddp_spawn``, ``ddp``
and a new interpreter do); what spawning needs, that the module and the writer pickle, is
checked on its own."""

import os
import pathlib
import signal

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from emofuse.cli import app
from emofuse.components import FEATURES
from emofuse.config import Component
from emofuse.data.manifest import Manifest
from emofuse.experiment import StoreConfig
from emofuse.features import build_extractor
from emofuse.features import extract_features
from emofuse.store import FeatureStore
from emofuse.training.extraction import ShardWriterCallback
from emofuse.training.extraction import extract_to_store

LOGMEL = Component("logmel", FEATURES.get("logmel").config_class(n_mels=16))
# 48 utterances: 5 shards of 10 (the last of 8), 3 steps of 4 utterances per full shard
SETTINGS = {"shard_size": 10, "batch_size": 4, "accelerator": "cpu"}


def store_files(directory: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def extract(manifest, path, **settings):
    return extract_to_store(build_extractor(LOGMEL), manifest, StoreConfig(path=str(path), **{**SETTINGS, **settings}))


@pytest.fixture(scope="module")
def reference(shared_corpus, tmp_path_factory):
    """The corpus and its store, extracted by one process."""
    manifest = Manifest.load(shared_corpus)
    path = tmp_path_factory.mktemp("one_process")
    table = extract(manifest, path)
    return manifest, path, table


def test_one_process_store_holds_the_cached_features(reference, feature_cache):
    manifest, path, table = reference
    cached = extract_features(build_extractor(LOGMEL), manifest, cache_dir=feature_cache, progress=False)
    assert list(table.values) == list(cached.values) == manifest.ids and not table.failures
    for identifier, array in cached.values.items():
        assert np.array_equal(table.values[identifier], array)
    store = FeatureStore(path, "logmel", LOGMEL)
    assert [p.name for p in store.shard_files()] == [f"shard-{k:06d}.arrow" for k in range(5)]


def test_two_processes_write_the_same_store_as_one(reference, tmp_path):
    manifest, path, _ = reference
    table = extract(manifest, tmp_path, devices=2, strategy="ddp_fork")
    assert len(table.values) == len(manifest)
    one, two = store_files(path), store_files(tmp_path)
    assert list(one) == list(two)
    different = [name for name in one if one[name] != two[name]]
    assert not different, f"files differ between one and two processes: {different}"
    store = FeatureStore(tmp_path, "logmel", LOGMEL)
    store.shard_path(3).unlink()
    extract(manifest, tmp_path, devices=2, strategy="ddp_fork")  # one shard for two processes: one has nothing to do
    assert store_files(tmp_path) == two


def test_the_engine_pickles_for_spawned_workers(reference):
    import pickle

    from emofuse.training.extraction import ExtractionModule
    from emofuse.training.extraction import ShardWork
    from emofuse.training.extraction import store_items

    manifest, path, _ = reference
    items = store_items(build_extractor(LOGMEL), manifest)[0]
    module = ExtractionModule(build_extractor(LOGMEL), [ShardWork(0, tuple(items[:3]))], batch_size=2, num_workers=0)
    copy = pickle.loads(pickle.dumps(module))
    assert copy.work == module.work and copy.extractor.config == module.extractor.config
    writer = pickle.loads(pickle.dumps(ShardWriterCallback(FeatureStore(path, "logmel", LOGMEL))))
    assert writer.store.directory == FeatureStore(path, "logmel", LOGMEL).directory


class KillingWriter(ShardWriterCallback):
    """A test-only writer: rank 1 kills itself (SIGKILL) after committing one shard and
    writing part of the next, leaving a note of the shard it was writing."""

    committed = 0

    def write_on_batch_end(self, trainer, pl_module, prediction, *args, **kwargs):
        super().write_on_batch_end(trainer, pl_module, prediction, *args, **kwargs)
        KillingWriter.committed += prediction["last"]
        if trainer.global_rank == 1 and KillingWriter.committed == 1 and not prediction["last"]:
            (self.store.directory.parent / f"killed in shard {prediction['shard']}").touch()
            os.kill(os.getpid(), signal.SIGKILL)


def killed_run(manifest, path):
    """An extraction by two processes whose second is killed mid-shard (runs in a child process)."""
    import emofuse.training.extraction as extraction

    extraction.ShardWriterCallback = KillingWriter  # only in this child, which exits with the kill
    extract(manifest, path, devices=2, strategy="ddp_fork")


def test_a_worker_killed_mid_shard_leaves_no_corrupt_shard_and_a_rerun_completes_the_same_store(reference, tmp_path):
    import multiprocessing

    manifest, path, _ = reference
    child = multiprocessing.get_context("fork").Process(target=killed_run, args=(manifest, tmp_path / "store"))
    child.start()
    child.join(timeout=300)
    store = FeatureStore(tmp_path / "store", "logmel", LOGMEL)
    assert child.exitcode != 0 and (store.directory.parent / "killed in shard 3").exists()
    partial = list((store.directory / "shards").glob(".*.partial"))
    assert partial, "the kill came before any shard was half-written"
    written = [int(p.stem.split("-")[1]) for p in store.shard_files()]
    assert 1 in written and 3 not in written and len(written) < 5
    assert all(store.problem(shard) is None for shard in written)  # every shard in place is whole
    table = extract(manifest, tmp_path / "store")  # the re-run writes only what is missing
    assert len(table.values) == len(manifest)
    assert not list((store.directory / "shards").glob(".*.partial"))
    assert store_files(store.directory) == store_files(FeatureStore(path, "logmel", LOGMEL).directory)


def test_cli_extract_then_run_from_the_store(tmp_path, shared_corpus):
    config = {
        "name": "store",
        "data": {"manifest": str(shared_corpus)},
        "protocol": {"name": "holdout_session", "test_sessions": ["2"], "dev_fraction": 0.25},
        "features": {"logmel": {"name": "logmel_stats", "n_mels": 16}},
        "systems": {"audio": {"inputs": ["logmel"], "model": {"name": "mlp", "hidden_sizes": [8]},
                              "training": {"max_epochs": 2, "batch_size": 8}}},
    }
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    runner = CliRunner()
    result = runner.invoke(app, ["extract", str(path), "-o", str(tmp_path / "store"), "--shard-size", "20",
                                 "--dtype", "float16", "--accelerator", "cpu", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "logmel: 48 utterances in 3 shards" in result.output and "-float16" in result.output
    store = next((tmp_path / "store").iterdir())
    before = {p: p.stat().st_mtime_ns for p in store.rglob("*.arrow")}
    result = runner.invoke(app, ["run", str(path), "-o", str(tmp_path / "run"), "--no-progress",
                                 "--set", f"extraction.store.path={tmp_path / 'store'}", "--set", "extraction.store.dtype=float16"])
    assert result.exit_code == 0, result.output
    assert {p: p.stat().st_mtime_ns for p in store.rglob("*.arrow")} == before  # read, not extracted again
    result = runner.invoke(app, ["extract", str(path), "--no-progress"])
    assert result.exit_code == 2 and "-o STORE" in result.output
    result = runner.invoke(app, ["extract", str(path), "-o", str(tmp_path / "store"), "--dtype", "float8"])
    assert result.exit_code == 2 and "dtype: 'float8' is not one of" in result.output
    result = runner.invoke(app, ["run", str(path), "--set", "extraction.store.shards=3"])
    assert result.exit_code == 2 and "extraction.store.shards: unknown key" in result.output


def test_a_run_extracts_on_several_devices_without_starting_itself_again():
    from emofuse.training.inputs import InputError
    from emofuse.training.inputs import in_process_store

    assert in_process_store(StoreConfig(path="s", devices=2)).strategy == "ddp_spawn"
    assert in_process_store(StoreConfig(path="s", devices=2, strategy="ddp_fork")).strategy == "ddp_fork"
    assert in_process_store(StoreConfig(path="s")).strategy == "auto"
    with pytest.raises(InputError, match="emofuse extract"):
        in_process_store(StoreConfig(path="s", devices=8, num_nodes=4))
