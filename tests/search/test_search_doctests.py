"""The examples in the search engine's docstrings run and give what they show."""
import doctest
import importlib

import pytest

MODULES = ["baselines", "batches", "checkpoint", "config", "costs", "distributed", "evaluate", "gated", "interrupt", "metrics",
           "pipeline", "plots", "progress", "report", "retrain", "runargs", "rundir", "session", "splits", "sweep"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.setenv("COSEARCH_CACHE", str(tmp_path))
    result = doctest.testmod(importlib.import_module(f"search.{name}"))
    assert result.failed == 0
