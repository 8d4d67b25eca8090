import pytest


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """A calibration cache of the test's own: a host_cpu calibrated on this machine does not leak in."""
    monkeypatch.setenv("COSEARCH_CACHE", str(tmp_path / "cosearch-cache"))
