"""Importing emofuse.data.corpora registers every reader and re-exports its prepare function."""

from __future__ import annotations

import dataclasses

import emofuse.data.corpora as corpora
from emofuse.components import CORPORA


def test_every_reader_is_registered():
    assert CORPORA.names() == [
        "cremad", "emobank", "emodb", "goemotions", "iemocap", "manifest", "meld", "msp_podcast",
        "paired", "ravdess", "semeval",
    ]


def test_every_config_is_a_frozen_dataclass_with_a_path():
    for name in CORPORA.names():
        config_class = CORPORA.get(name).config_class
        assert config_class.__dataclass_params__.frozen, name
        fields = {field.name for field in dataclasses.fields(config_class)}
        if name == "paired":  # pairs two corpora, each with its own path
            assert {"audio", "text"} <= fields
        else:
            assert "path" in fields, name


def test_prepare_functions_are_exported():
    exported = {name for name in corpora.__all__ if name.startswith("prepare_")}
    assert exported == {
        "prepare_corpus", "prepare_cremad", "prepare_emobank", "prepare_emodb", "prepare_goemotions",
        "prepare_iemocap", "prepare_manifest", "prepare_meld", "prepare_msp_podcast", "prepare_ravdess",
        "prepare_semeval",
    }
    assert all(callable(getattr(corpora, name)) for name in exported)
