"""``calibrate`` writes this machine's host_cpu to a cache (never over the tracked yaml), and
``load_target("host_cpu")`` reads it there."""
import functools
import os

import pytest

import search.cli.calibrate as calibrate_command
from cost_models.calibrate import Calibration, calibrate, write_target
from cost_models.target import TARGETS_DIR, cache_dir, calibrated_path, load_target
from search_commands import run


@pytest.fixture(scope="module")
def cal() -> Calibration:
    import torch
    threads = torch.get_num_threads()
    try:
        return calibrate(threads=1, quick=True)
    finally:
        torch.set_num_threads(threads)


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    assert calibrated_path() == tmp_path / "cosearch-cache" / "targets" / "host_cpu.yaml"
    monkeypatch.delenv("COSEARCH_CACHE")
    assert str(cache_dir()) == os.path.expanduser("~/.cache/cosearch/targets")


def test_host_cpu_resolves_to_the_calibration_when_there_is_one(cal):
    tracked = TARGETS_DIR / "host_cpu.yaml"
    before = tracked.read_bytes()
    assert load_target("host_cpu").source == str(tracked)
    path = write_target(cal)
    assert path == calibrated_path() and tracked.read_bytes() == before
    target = load_target("host_cpu")
    assert target.source == str(path) and target.peak_macs_per_s == pytest.approx(cal.target.peak_macs_per_s,
                                                                                   rel=1e-3)
    assert load_target("jetson_tx2").source == str(TARGETS_DIR / "jetson_tx2.yaml")


def test_calibrate_command_writes_the_cache(capsys, monkeypatch):
    tracked = (TARGETS_DIR / "host_cpu.yaml").read_bytes()
    monkeypatch.setattr(calibrate_command, "calibrate", functools.partial(calibrate, quick=True))
    code, out, err = run(capsys, "calibrate", "--threads", "1")
    assert code == 0, err
    assert f"wrote {calibrated_path()} (load_target('host_cpu') now reads it)" in out
    assert (TARGETS_DIR / "host_cpu.yaml").read_bytes() == tracked
    assert load_target("host_cpu").source == str(calibrated_path())


@pytest.mark.parametrize("make_out, message", [
    (lambda tmp: tmp / "host_cpu.txt", "expected a .yaml file"),
    (lambda tmp: tmp, "is a directory"),
    (lambda tmp: tmp / "file" / "host_cpu.yaml", "is a file, not a folder"),
])
def test_bad_out_fails_before_the_benchmark(capsys, monkeypatch, tmp_path, make_out, message):
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(calibrate_command, "calibrate", lambda **_: pytest.fail("the benchmark ran"))
    out = make_out(tmp_path)
    if out == tmp_path:
        out = tmp_path / "dir.yaml"
        out.mkdir()
    code, _, err = run(capsys, "calibrate", "--out", str(out))
    assert code == 2 and err.startswith(f"error: --out {out}") and message in err
