"""pytest setup shared by the tests and the doctests: a private feature cache per test."""
import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COSEARCH_CACHE", str(tmp_path / "cache"))
