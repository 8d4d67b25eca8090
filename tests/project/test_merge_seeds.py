"""experiments/merge_seeds.py: seeds of several benchmark.json files pooled, a repeated seed refused."""
import json
from pathlib import Path

import pytest


def write(path: Path, seeds: dict) -> Path:
    path.write_text(json.dumps({"families": {"pspnet": {"seeds": seeds}}}))
    return path


def test_pooled_seeds_merges_files_and_refuses_a_repeated_seed(tmp_path, experiment):
    merge = experiment("merge_seeds")
    a = write(tmp_path / "a.json", {"0": {"derived": {"miou": 0.5}}, "1": {"derived": {"miou": 0.6}}})
    b = write(tmp_path / "b.json", {"2": {"derived": {"miou": 0.7}}})
    pooled = merge.pooled_seeds([b, a], "pspnet")
    assert list(pooled) == [0, 1, 2] and pooled[2]["derived"]["miou"] == 0.7
    with pytest.raises(SystemExit, match="seed 0 of pspnet is also in an earlier file"):
        merge.pooled_seeds([a, a], "pspnet")
    with pytest.raises(SystemExit, match="no family 'multires'"):
        merge.pooled_seeds([a], "multires")
