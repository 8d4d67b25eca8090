"""pytest setup shared by every test and doctest: a private feature / calibration cache where it
matters (``$COSEARCH_CACHE``), so nothing on this machine leaks in and nothing leaks out."""
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

COST_MODEL_TESTS = Path(__file__).parent / "tests" / "cost_models"


@pytest.fixture(autouse=True)
def _private_cache(request, tmp_path, monkeypatch):
    """Doctests, and the cost-model tests (a host_cpu calibrated on this machine must not leak in)."""
    if isinstance(request.node, DoctestItem) or COST_MODEL_TESTS in Path(request.node.path).parents:
        monkeypatch.setenv("COSEARCH_CACHE", str(tmp_path / "cosearch-cache"))
