"""cost_models.calibrate: a quick calibration writes a host_cpu target that loads and predicts."""
import pytest
import torch

from cost_models.calibrate import (CONV_SHAPES, calibrate, fit_error, simd_lanes, target_yaml, tune_allocator,
                                   write_target)
from cost_models.formulas import conv2d_work, layer_cost
from cost_models.target import load_target


@pytest.fixture(scope="module")
def cal():
    threads = torch.get_num_threads()
    try:
        yield calibrate(threads=1, quick=True)
    finally:
        torch.set_num_threads(threads)


def test_measures_positive_rates_and_fits(cal):
    assert cal.threads == 1 and len(cal.conv_rows) == len(CONV_SHAPES)
    t = cal.target
    for value in (t.peak_macs_per_s, t.vector_ops_per_s, t.dram_bandwidth, t.per_layer_overhead_s,
                  t.onchip_buffer_bytes):
        assert value > 0
    assert 0 < t.utilization <= 1 and t.intensity_half >= 0
    assert fit_error(cal) < 1.0  # the fitted model is within 2x of the median conv
    assert cal.machine["threads"] == "1" and cal.machine["torch"] == torch.__version__
    assert cal.seconds < 60


def test_written_target_loads_and_reproduces_the_fit(cal, tmp_path):
    path = write_target(cal, tmp_path / "host_cpu.yaml")
    text = path.read_text()
    assert text == target_yaml(cal)
    assert "calibrated by `python -m search calibrate --threads 1`" in text and cal.machine["cpu"] in text
    target = load_target(path)
    assert target.name == "host_cpu" and target.kind == "cpu" and target.channel_block == simd_lanes()
    row = cal.conv_rows[len(cal.conv_rows) // 2]
    s = row["shape"]
    out = (s["size"] + 2 * (s["kernel"] // 2) - s["kernel"]) // s["stride"] + 1
    work = conv2d_work(1, s["c_in"], s["c_out"], s["size"], s["size"], out, out, (s["kernel"],) * 2, s["groups"])
    assert float(layer_cost(work, target).latency_s) == pytest.approx(row["predicted_s"], rel=0.02)


def test_tune_allocator_reports_success_on_linux():
    import platform
    assert tune_allocator() is (platform.system() == "Linux")
