"""Misuse of a run directory and hard kills: a second process is refused, a SIGKILL anywhere
resumes to the result of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from search_testing import TINY, run_cli, tiny_config

from search.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[2]


def _start(out: Path, cache: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "search", "run", str(TINY), "--out", str(out),
                             f"data.cache_dir={cache}", *overrides], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the run ended before the point was reached: {proc.stderr.read()}"
        assert time.monotonic() < end, "the run did not reach the point in time"
        time.sleep(0.01)


def _rows(out: Path) -> list[dict]:
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass
    return rows


def _result(out: Path) -> tuple:
    derived = torch.load(out / "derived.pt", weights_only=True)
    report = json.loads((out / "report.json").read_text())
    return json.loads((out / "arch.json").read_text())["choices"], report["runs"][0]["miou"], derived["state_dict"]


def test_a_second_process_on_the_same_directory_is_refused(tmp_path, cache):
    out = tmp_path / "run"
    first = _start(out, cache)
    try:
        _wait_for(lambda: (out / ".lock").exists() and (out / ".lock").read_text().strip(), first)
        code, _, err = run_cli("run", TINY, "--out", out, f"data.cache_dir={cache}", "run.seed=1")
        assert code == 2 and "in use by process" in err and str(first.pid) in err
        code, _, err = run_cli("run", "--out", out, "--resume")
        assert code == 2 and "in use by process" in err
    finally:
        assert first.wait(timeout=300) == 0, first.stderr.read()
    assert "seed: 0" in (out / "config.yaml").read_text()
    assert json.loads((out / "report.json").read_text())["runs"][0]["name"] == "derived"


def test_sigkill_at_points_in_every_phase_resumes_to_the_same_result(tmp_path, cache):
    ref = run_pipeline(tiny_config(cache), tmp_path / "ref", echo=False)
    expected = _result(ref)
    points = [("search", 3), ("retrain", 2), ("final", None)]  # one kill in each phase
    for phase, step in points:
        out = tmp_path / f"kill-{phase}-{step}"
        proc = _start(out, cache)
        _wait_for(lambda: any(r["phase"] == phase and step in (None, r["step"]) for r in _rows(out)), proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        run_pipeline(tiny_config(cache), out, resume=True, echo=False)
        choices, miou, weights = _result(out)
        assert choices == expected[0] and miou == expected[1], (phase, step)
        assert all(torch.equal(weights[k], expected[2][k]) for k in weights), (phase, step)
        keys = [(r["phase"], r["step"]) for r in _rows(out)]
        assert len(keys) == len(set(keys)), f"duplicate metrics rows after a kill at {phase} {step}"
        assert not list(out.rglob(".*.tmp-*")), "a temporary file was left behind"


def test_resume_of_a_run_killed_while_starting_starts_it(tmp_path, cache):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text("process 1 on host gone\n")  # a dead holder: the OS lock is free
    run_pipeline(tiny_config(cache), out, resume=True, echo=False)
    assert (out / "report.json").exists()
    assert "starting it afresh" in (out / "log.txt").read_text()


def test_out_that_is_a_file_or_cannot_be_made(tmp_path, cache):
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli("run", TINY, "--out", tmp_path / "file", f"data.cache_dir={cache}")
    assert code == 2 and "is a file" in err and "Traceback" not in err
    code, _, err = run_cli("run", TINY, "--out", tmp_path / "file" / "sub", f"data.cache_dir={cache}")
    assert code == 2 and "cannot create the run directory" in err and "Traceback" not in err


def test_a_kill_after_the_search_ended_resumes_from_the_searched_supernet(tmp_path, cache):
    from search.engine.interrupt import Interrupted, StopAfter
    from search.pipeline import STAGES

    early = tmp_path / "early"
    with pytest.raises(Interrupted):
        run_pipeline(tiny_config(cache), early, stop=StopAfter(2), echo=False)
    done = run_pipeline(tiny_config(cache), tmp_path / "done", stages=STAGES["search"], echo=False)
    arch = json.loads((done / "arch.json").read_text())["choices"]
    # as if killed after checkpoints/search.pt was written but before the hand-over's checkpoint
    (done / "checkpoints" / "last.pt").write_bytes((early / "checkpoints" / "last.pt").read_bytes())
    rows = len(_rows(done))
    run_pipeline(tiny_config(cache), done, resume=True, echo=False)
    assert "finished before the stop" in (done / "log.txt").read_text()
    assert not [r for r in _rows(done)[rows:] if r["phase"] == "search"]  # no search step repeated
    assert json.loads((done / "arch.json").read_text())["choices"] == arch
