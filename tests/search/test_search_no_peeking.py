"""No peeking: the test split is read only by the final evaluation.

Every choice the pipeline makes (the weights, the architecture and its cost trade-off, the data
gate, the inference scale, the derive, a baseline's width) is made on the train and val splits.
The datasets :func:`search.data.splits.load_splits` builds are made to record, on every item read
(``dataset[i]`` or ``dataset.load(i)``), which split it was and which functions of ``search`` were
on the stack; the tiny pipeline then runs, baselines included.
"""
from __future__ import annotations

import sys

import pytest
from search_testing import tiny_config

from search.data import splits as splits_module
from search.pipeline import run_pipeline

FINAL, EVALUATE = "search.evaluate.final.final_phase", "search.evaluate.evaluate.evaluate"
SEARCH, TRAIN = "search.cosearch.phase.search_phase", "search.train.phase.train_phase"
BASELINES = "search.baselines.phase.baselines_phase"


def _callers() -> tuple[str, ...]:
    """``module.function`` of every frame of the ``search`` package on the stack, innermost first."""
    out, frame = [], sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("search."):
            out.append(f"{module}.{frame.f_code.co_name}")
        frame = frame.f_back
    return tuple(out)


def _recording(dataset, which: str, log: list):
    """``dataset``, its class swapped for a subclass that logs ``(which, callers)`` on every item read."""
    base = type(dataset)

    class Recorded(base):  # type: ignore[misc, valid-type]
        def load(self, index):
            log.append((which, _callers()))
            return base.load(self, index)

        def __getitem__(self, index):
            log.append((which, _callers()))
            return base.__getitem__(self, index)

    Recorded.__name__ = Recorded.__qualname__ = base.__name__
    dataset.__class__ = Recorded
    return dataset


@pytest.fixture(scope="module")
def reads(tmp_path_factory):
    """``[(split, callers)]`` of every item read by a tiny run with two baselines."""
    tmp = tmp_path_factory.mktemp("peek")
    log: list = []
    build = splits_module.build_split
    patch = pytest.MonkeyPatch()
    patch.setattr(splits_module, "build_split", lambda data, which: _recording(build(data, which), which, log))
    try:
        cfg = tiny_config(tmp / "cache", "baselines=[full, uniform]")
        run_pipeline(cfg, tmp / "run", echo=False)
    finally:
        patch.undo()
    return log


def test_the_test_split_is_read_only_by_the_final_evaluation(reads):
    test = [callers for split, callers in reads if split == "test"]
    assert test, "the final evaluation read no test image"
    for callers in test:
        assert FINAL in callers and EVALUATE in callers, callers
        assert not any(c.startswith(("search.cosearch.", "search.derive.")) for c in callers), callers
        assert SEARCH not in callers and TRAIN not in callers, callers
    # the derived network's and each baseline's final evaluation: every test image, each time
    assert len(test) >= 3 * 8


def test_the_search_and_the_training_read_train_and_val_only(reads):
    search = {split for split, callers in reads if SEARCH in callers}
    train = {split for split, callers in reads if TRAIN in callers}
    assert search == {"train", "val"}        # W on train; alpha, rho, phi on val
    assert train == {"train"}
    before_final = {split for split, callers in reads if FINAL not in callers}
    assert "test" not in before_final
    baselines = {split for split, callers in reads if BASELINES in callers and FINAL not in callers}
    assert baselines <= {"train", "val"}


def test_the_deployment_size_is_metadata(tmp_path):
    """``Splits.test_size`` (the cost model's input) answers without making a test image."""
    log: list = []
    cfg = tiny_config(tmp_path / "cache")
    splits = splits_module.load_splits(cfg.data, features=False)
    _recording(splits.test, "test", log)
    assert splits.test_size == tuple(cfg.data.image_size) and log == []
