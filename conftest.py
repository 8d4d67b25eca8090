"""pytest setup for the doctests: each runs with a private feature cache (``$COSEARCH_CACHE``)."""
import pytest
from _pytest.doctest import DoctestItem


@pytest.fixture(autouse=True)
def _private_cache_for_doctests(request, tmp_path, monkeypatch):
    if isinstance(request.node, DoctestItem):
        monkeypatch.setenv("COSEARCH_CACHE", str(tmp_path / "cache"))
