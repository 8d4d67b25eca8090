"""search/progress.py: the periodic progress line."""
import io

from search.report.progress import Progress, format_seconds


def test_line_has_phase_step_rate_and_eta():
    out = io.StringIO()
    p = Progress("retrain", total=100, start=10, stream=out, interval_s=0)
    p.update(20, loss=0.5)
    line = out.getvalue()
    assert line.startswith("[retrain] step 20/100") and "it/s" in line and "ETA" in line and "loss=0.5" in line


def test_throttled_but_final_step_always_printed():
    out = io.StringIO()
    p = Progress("search", total=3, stream=out, interval_s=3600)
    p.update(1)
    p.update(2)
    p.update(3)
    assert out.getvalue().count("\n") == 2  # the first and the last


def test_format_seconds():
    assert format_seconds(5) == "5s" and format_seconds(125) == "2m05s" and format_seconds(3725) == "1h02m05s"
