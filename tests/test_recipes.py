"""Every published-system recipe runs end to end on the corpus replicas with its documented
``offline`` variant (small offline encoders in place of hub models), shortened for CI: the
protocol's first fold only, one seed and one or two epochs per system. Marked slow; CI runs it."""

import pathlib

import pandas as pd
import pytest
from conftest import ROOT
from conftest import shared_path

import emofuse
from emofuse.config import load_yaml

RECIPES = ["iemonet", "atmaja", "boigne", "triantafyllopoulos", "padi"]

#: Extra shortening per recipe, on top of one seed and one epoch per system.
SHORTER = {
    "iemonet": ["protocol.folds=3", "systems.iemonet_unfrozen.training.max_epochs=2",
                "systems.iemonet_unfrozen.model.unfreeze_after=1"],
    "boigne": [],
    "atmaja": [],
    "triantafyllopoulos": [f"systems.{s}.{p}channels=[8, 8, 16, 16, 16, 16]"
                           for s, p in (("cnn14", "model."), ("sfcnn14", "model.acoustic."), ("mfcnn14", "model.acoustic."))],
    "padi": ["systems.speech.model.channels=8", "systems.speech.model.embedding_size=32",
             "systems.speech.training.repeat=1"],
}


def shortened(recipe: str) -> list[str]:
    data = load_yaml(ROOT / "recipes" / f"{recipe}.yaml")
    overrides = ["seeds=[0]"]
    for name, system in data["systems"].items():
        if "model" in system:
            overrides.append(f"systems.{name}.training.max_epochs=1")
    return overrides + SHORTER[recipe]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One feature cache for the five recipes, as for a user who runs them one after another (the
    recipes share front-ends: log-Mel, MiniLM)."""
    return tmp_path_factory.mktemp("recipes") / "cache"


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_runs_offline_on_the_replicas(recipe, tmp_path, monkeypatch, shared_cache):
    shared_path("fixtures", "IEMOCAP_mini")
    monkeypatch.chdir(ROOT)  # the recipes name ../shared relative to the repository
    config = emofuse.load_experiment(ROOT / "recipes" / f"{recipe}.yaml", variant="offline",
                                     overrides=[*shortened(recipe), f"extraction.cache_dir={shared_cache}"])
    _, _, _, folds = emofuse.Runner(config, tmp_path / "run", progress=False).prepare()
    result = emofuse.run_experiment(config, tmp_path / "run", progress=False, folds=[folds[0].name])
    assert set(result.metrics["fold"]) == {folds[0].name}
    assert set(result.summary["system"]) == set(config.systems)
    metric = "UA_mean" if config.task.type == "categorical" else "CCC_mean_mean"
    assert result.summary[metric].notna().all()
    summary = (tmp_path / "run" / "results" / "summary.md").read_text()
    assert all(f"| {name} |" in summary for name in config.systems)
    if config.evaluate_on:
        assert not pd.read_csv(tmp_path / "run" / "results" / "cross_metrics.csv").empty


def test_every_recipe_and_variant_parses(monkeypatch):
    monkeypatch.chdir(ROOT)
    for path in sorted(pathlib.Path(ROOT / "recipes").glob("*.yaml")):
        variants = load_yaml(path).get("variants") or {}
        for variant in [None, *variants]:
            emofuse.load_experiment(path, variant=variant)
