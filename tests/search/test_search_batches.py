"""search/batches.py: batches are a pure function of (seed, step)."""
import pytest
import torch

from search.data.batches import bucketed_indices, collate, global_batch, step_indices
from search.engine.distributed import DistEnv
from search.engine.seeding import derive_seed, seed_step
from search.errors import UserError


def test_epochs_are_permutations_and_replayable():
    n, bs = 10, 3
    epoch0 = sum((step_indices(n, bs, s, seed=1) for s in range(3)), [])
    assert len(set(epoch0)) == 9  # 3 full batches of one permutation, the short rest skipped
    assert step_indices(n, bs, 4, seed=1) == step_indices(n, bs, 4, seed=1)
    assert step_indices(n, bs, 4, seed=1) != step_indices(n, bs, 4, seed=2)
    assert step_indices(n, bs, 0, seed=1, tag="val") != step_indices(n, bs, 0, seed=1, tag="train")


def test_seeds_differ_by_part_and_seed_step_replays():
    assert derive_seed(0, "search", 1) != derive_seed(0, "search", 2) != derive_seed(1, "search", 1)
    seed_step(0, "x", 3)
    a = torch.rand(3)
    torch.rand(5)
    seed_step(0, "x", 3)
    assert torch.equal(torch.rand(3), a)


def test_small_split_and_ragged_batches_are_user_errors():
    with pytest.raises(UserError, match="fewer than the batch size"):
        step_indices(2, 4, 0, seed=0)
    data = [(torch.zeros(3, 4, 4), torch.zeros(4, 4)), (torch.zeros(3, 5, 4), torch.zeros(5, 4))]
    with pytest.raises(UserError, match="set data.crop"):
        collate(data, [0, 1])


def test_global_batch_shards_by_rank():
    data = [(torch.full((3, 2, 2), float(i)), torch.zeros(2, 2, dtype=torch.long)) for i in range(8)]
    parts = [global_batch(data, 4, 0, 0, "train", DistEnv(r, 2, r, torch.device("cpu"))) for r in range(2)]
    assert parts[0][0] == parts[1][0] and parts[0][1] == [0, 1] and parts[1][1] == [2, 3]
    seen = [int(img[0, 0, 0]) for p in parts for img in p[2]]
    assert seen == parts[0][0]


def test_a_bucketed_epoch_gives_each_image_once_in_batches_of_one_bucket():
    buckets = [0] * 9 + [1] * 4 + [2] * 1            # 9 -> 4 + 4 + 1 (left out); 4 -> 4; 1 -> none
    per_epoch = 3
    epoch0 = [bucketed_indices(buckets, 4, s, seed=3) for s in range(per_epoch)]
    assert all(epoch == 0 for _, epoch in epoch0) and bucketed_indices(buckets, 4, per_epoch, seed=3)[1] == 1
    seen = sorted(i for idx, _ in epoch0 for i in idx)
    assert len(seen) == len(set(seen)) == 12 and 13 not in seen   # the lone bucket-2 image never trains
    assert all(len({buckets[i] for i in idx}) == 1 for idx, _ in epoch0)
    assert bucketed_indices(buckets, 4, 1, seed=3) == epoch0[1]
    assert [bucketed_indices(buckets, 4, s, seed=4)[0] for s in range(per_epoch)] != [idx for idx, _ in epoch0]


def test_every_process_gets_an_image_of_a_short_bucketed_batch():
    # buckets of 9 and 2 in batches of 8: the short batches (1 and 2 images) would leave a process of
    # three without an image, so with three processes only batches of 3 or more are kept
    buckets = [0] * 9 + [1] * 2
    data = [(torch.full((3, 2, 2), float(i)), torch.zeros(2, 2, dtype=torch.long)) for i in range(len(buckets))]
    assert bucketed_indices(buckets, 8, 1, seed=0, min_batch=2)[0] != bucketed_indices(buckets, 8, 1, seed=0,
                                                                                         min_batch=3)[0]
    for step in range(4):
        parts = [global_batch(data, 8, step, 0, "train", DistEnv(r, 3, r, torch.device("cpu")), buckets=buckets)
                 for r in range(3)]
        assert all(len(p[2]) >= 1 for p in parts) and len(parts[0][0]) == 8


def test_buckets_too_small_for_a_batch_are_a_clear_error():
    with pytest.raises(UserError, match="no batch of 2"):
        bucketed_indices([0, 1, 2], 4, 0, seed=0)
