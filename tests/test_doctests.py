"""Runs the examples in docstrings of the modules that carry them."""

import doctest
import importlib

import pytest

MODULES = [
    "emofuse.config",
    "emofuse.registry",
    "emofuse.data.labels",
    "emofuse.data.corpora.iemocap",
    "emofuse.data.validation",
    "emofuse.evaluation.metrics",
    "emofuse.evaluation.aggregate",
    "emofuse.fusion.late",
    "emofuse.evaluation.stats",
    "emofuse.evaluation.analyses",
    "emofuse.reports.tables",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring examples failed in {name}"
