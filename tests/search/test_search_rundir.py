"""search/rundir.py: the files of a run directory; silent on non-main ranks."""
import json

from search.report.rundir import RunDir, default_run_dir


def test_writes_log_metrics_tensorboard(tmp_path):
    run = RunDir(tmp_path / "r", echo=False)
    run.log("hello")
    run.record("search", 3, {"loss": 1.5, "nan": float("nan")}, extra={"note": "x"})
    run.write_json("a.json", {"x": 1})
    run.close()
    assert "hello" in (tmp_path / "r" / "log.txt").read_text()
    row = json.loads((tmp_path / "r" / "metrics.jsonl").read_text())
    assert row["phase"] == "search" and row["step"] == 3 and row["loss"] == 1.5 and row["note"] == "x"
    assert list((tmp_path / "r" / "tb").glob("events.*"))
    assert (tmp_path / "r" / "checkpoints").is_dir()
    assert json.loads((tmp_path / "r" / "a.json").read_text()) == {"x": 1}


def test_other_ranks_write_nothing(tmp_path):
    run = RunDir(tmp_path / "r", main=False)
    run.log("x")
    run.record("search", 1, {"a": 1.0})
    run.write_text("f.txt", "x")
    run.close()
    assert not (tmp_path / "r").exists()


def test_default_run_dir_is_fresh(tmp_path):
    first = default_run_dir(tmp_path)
    first.mkdir()
    assert default_run_dir(tmp_path) != first
