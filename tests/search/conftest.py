"""Fixtures shared by the tests of search/."""
import pytest


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The complexity-feature cache of one test module's runs."""
    return tmp_path_factory.mktemp("features")
