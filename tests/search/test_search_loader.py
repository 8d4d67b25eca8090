"""DataLoader workers give the batches, and so the results, of the main process."""
import json

import torch
from search_testing import tiny_config

from search.data import build_dataset
from search.data.loader import StepBatches
from search.engine.distributed import setup
from search.pipeline import STAGES, run_pipeline


def test_workers_give_the_same_batches_in_any_order():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # workers decode at one thread; the same here, so rounding agrees
    try:
        ds = build_dataset({"name": "synthetic", "split": "train", "size": 16, "image_size": [16, 32]})
        env = setup("cpu")
        plain, workers = StepBatches(ds, 4, 0, "train", env), StepBatches(ds, 4, 0, "train", env, workers=2)
        for step in (0, 1, 2, 5, 6, 3):  # in order, a jump ahead, and back
            a, b = plain(step), workers(step)
            assert a[:2] == b[:2] and torch.equal(a[2], b[2]) and torch.equal(a[3], b[3]), step
    finally:
        torch.set_num_threads(threads)


def test_workers_give_the_same_bucketed_batches():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ds = build_dataset({"name": "synthetic", "split": "train", "size": 16, "image_size": [16, 32]})
        env, buckets = setup("cpu"), [i % 3 for i in range(16)]     # sizes 6, 5, 5: short batches too
        plain = StepBatches(ds, 4, 0, "train", env, buckets=buckets)
        workers = StepBatches(ds, 4, 0, "train", env, workers=2, buckets=buckets)
        for step in (0, 1, 2, 7, 3):
            a, b = plain(step), workers(step)
            assert a[:2] == b[:2] and torch.equal(a[2], b[2]) and torch.equal(a[3], b[3]), step
            assert len({buckets[i] for i in a[0]}) == 1
    finally:
        torch.set_num_threads(threads)


def test_a_search_with_workers_derives_the_same_arch(tmp_path):
    archs = []
    for workers in (0, 2):
        cfg = tiny_config(tmp_path / "cache", f"data.workers={workers}", "data.in_memory=false")
        out = run_pipeline(cfg, tmp_path / f"w{workers}", stages=STAGES["search"], echo=False)
        archs.append(json.loads((out / "arch.json").read_text())["choices"])
    assert archs[0] == archs[1]
