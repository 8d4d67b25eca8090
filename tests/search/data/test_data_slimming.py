"""search.data.slimming: the gate's summary (report.json "data_slimming")."""
import torch

from search.data.slimming import slimming_summary


def test_slimming_summary():
    feats = torch.tensor([[0.0, 0.0], [1.0, 2.0], [2.0, 1.0], [3.0, 3.0], [4.0, 5.0]])
    s = slimming_summary(torch.tensor([0, 1, 1, 2, 3]), ["drop", 0.5, 0.75, 1.0], feats)
    assert s["action_histogram"] == {"drop": 1, "0.5": 2, "0.75": 1, "1.0": 1} and s["kept_fraction"] == 0.8
    assert s["spearman_complexity_vs_scale"] > 0.9 and s["choice"] == [0, 1, 1, 2, 3]
    reverse = slimming_summary(torch.tensor([3, 2, 2, 1, 0]), ["drop", 0.5, 0.75, 1.0], feats)
    assert reverse["spearman_complexity_vs_scale"] < -0.9
    same = slimming_summary(torch.tensor([1, 1, 1, 1, 1]), [0.5, 1.0], feats)
    assert same["kept_fraction"] == 1.0 and same["spearman_complexity_vs_scale"] is None
