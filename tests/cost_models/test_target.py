"""cost_models.target: every built-in target loads; malformed yaml gives a clear error."""
import re
from pathlib import Path

import pytest
import yaml

from cost_models.target import TARGETS_DIR, Target, TargetError, list_targets, load_target

REQUIRED = {"a100", "jetson_tx2", "jetson_nano", "zc706", "ultra96", "eyeriss", "host_cpu"}


def test_every_target_loads_with_sane_numbers():
    assert REQUIRED <= set(list_targets())
    for name in list_targets():
        t = load_target(name)
        assert isinstance(t, Target) and t.name == name and Path(t.source).name == f"{name}.yaml"
        assert t.peak_macs_per_s > 0 and 0 < t.utilization <= 1 and t.dram_bandwidth > 0
        assert t.e_mac > 0 and t.e_onchip_byte > 0 and t.e_dram_byte > t.e_onchip_byte
        assert load_target(t) is t and load_target(TARGETS_DIR / f"{name}.yaml") == t


def test_every_number_has_its_source_in_a_comment():
    for path in TARGETS_DIR.glob("*.yaml"):
        for line in path.read_text().splitlines():
            if re.search(r":\s*[-+]?\d", line):  # a field with a number
                assert "#" in line, f"{path.name}: no source for {line.strip()!r}"


def test_fpga_and_asic_peaks_come_from_units_and_clock():
    zc706, ultra96, eyeriss = load_target("zc706"), load_target("ultra96"), load_target("eyeriss")
    assert zc706.peak_macs_per_s == pytest.approx(900 * 150e6)
    assert ultra96.peak_macs_per_s == pytest.approx(360 * 200e6 * 2) and ultra96.precision == "int8"
    assert eyeriss.peak_macs_per_s == pytest.approx(168 * 200e6) and eyeriss.onchip_buffer_bytes == 108e3
    # Eyeriss relative energies DRAM : global buffer : MAC = 200 : 6 : 1 per 16-bit word (1 unit = 1 pJ)
    assert eyeriss.e_dram_byte * 2 == pytest.approx(200e-12) and eyeriss.e_onchip_byte * 2 == pytest.approx(8e-12)


def write(tmp_path, text):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return path


BASE = (Path(TARGETS_DIR) / "jetson_tx2.yaml").read_text()


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["memory"].pop("dram_bandwidth"), "missing field 'memory.dram_bandwidth'"),
    (lambda d: d["compute"].pop("peak"), "missing field 'compute.peak' (or 'compute.dsp' with 'compute.clock')"),
    (lambda d: d["memory"].update(dram_bandwidth="59.7 GHz"), "unit 'GHz' in '59.7 GHz' is not a bandwidth unit"),
    (lambda d: d["memory"].update(dram_bandwidth=59.7), "got the bare number 59.7; expected a bandwidth with a unit"),
    (lambda d: d["energy"].update(mac="four pJ"), "energy.mac: cannot read 'four pJ'"),
    (lambda d: d.update(kind="tpu"), "kind 'tpu' is not one of gpu, cpu, fpga, asic"),
    (lambda d: d.update(precision="fp8"), "precision 'fp8' is not one of"),
    (lambda d: d["compute"].update(utilization=1.5), "compute.utilization must be in (0, 1], got 1.5"),
    (lambda d: d["compute"].update(turbo=2), "unknown field 'compute.turbo'"),
    (lambda d: d.update(colour="green"), "unknown field 'colour'"),
    (lambda d: d["compute"].update(channel_block=2.5), "compute.channel_block must be a whole number"),
    (lambda d: d["memory"].update(register_reuse="8"), "memory.register_reuse: expected a plain number, got '8'"),
    (lambda d: d["energy"].update(dram="-8 pJ/bit"), "e_dram_byte must not be negative"),
])
def test_malformed_yaml_names_the_field(tmp_path, edit, message):
    assert_edit_rejected(tmp_path, edit, message)


def assert_edit_rejected(tmp_path, edit, message):
    """``BASE`` changed by ``edit`` is refused with ``message``, naming the file."""
    data = yaml.safe_load(BASE)
    edit(data)
    path = write(tmp_path, yaml.safe_dump(data))
    with pytest.raises(TargetError) as info:
        load_target(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_unknown_targets_and_files():
    with pytest.raises(TargetError, match=r"unknown target 'tx3'; built-in targets are a100, .*jetson_tx2"):
        load_target("tx3")
    with pytest.raises(TargetError, match="does not exist"):
        load_target("/nonexistent/dir/t.yaml")


def test_not_yaml_or_not_a_mapping(tmp_path):
    with pytest.raises(TargetError, match="not valid YAML"):
        load_target(write(tmp_path, "name: [unclosed"))
    with pytest.raises(TargetError, match="expected a mapping"):
        load_target(write(tmp_path, "- a\n- b\n"))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["energy"].update(mac="1e400 pJ"), "energy.mac must be a finite number, got '1e400 pJ'"),
    (lambda d: d["compute"].update(utilization=float("nan")), "compute.utilization must be a finite number"),
    (lambda d: d["compute"].update(intensity_half=float("inf")), "compute.intensity_half must be a finite number"),
    (lambda d: d["memory"].update(dram_bandwidth="0 GB/s"), "memory.dram_bandwidth must be positive, got '0 GB/s'"),
    (lambda d: d["memory"].update(onchip_buffer="0 KB"), "memory.onchip_buffer must be positive"),
    (lambda d: d["compute"].update(peak="-1 TFLOP/s"), "compute.peak must be positive"),
    (lambda d: d["compute"].update(vector_peak="1e-400 Gop/s"), "compute.vector_peak must be positive"),
    (lambda d: d["energy"].update(static_power="-1 W"), "static_power_w must not be negative, got -1.0 (field 'energy.static_power')"),
])
def test_every_number_is_finite_and_in_range(tmp_path, edit, message):
    assert_edit_rejected(tmp_path, edit, message)


def test_fpga_peak_from_units_and_clock_is_checked(tmp_path):
    data = yaml.safe_load((Path(TARGETS_DIR) / "zc706.yaml").read_text())
    data["compute"]["dsp"] = 0
    with pytest.raises(TargetError, match="compute.dsp must be positive, got 0"):
        load_target(write(tmp_path, yaml.safe_dump(data)))
    data["compute"].update(dsp=1e300, macs_per_dsp_cycle=1e300)  # each finite, the product is not
    with pytest.raises(TargetError, match=r"peak_macs_per_s must be finite, got inf \(field 'compute.peak'\)"):
        load_target(write(tmp_path, yaml.safe_dump(data)))


def test_target_yaml_is_read_strictly(tmp_path):
    with pytest.raises(TargetError, match=r"t.yaml, line 3: duplicate key 'kind' \(first on line 2\)"):
        load_target(write(tmp_path, "name: x\nkind: gpu\nkind: cpu\n"))
    with pytest.raises(TargetError, match=r"t.yaml, line 1: anchors and aliases .* are not allowed"):
        load_target(write(tmp_path, "name: &n x\ndescription: *n\n"))
    with pytest.raises(TargetError, match="larger than 1048576 bytes"):
        load_target(write(tmp_path, "# padding\n" * 120_000))
