"""cost_models.units: quantities with units into base units, clear errors otherwise."""
import pytest

from cost_models.units import UnitError, parse_quantity


@pytest.mark.parametrize("text, dimension, value", [
    ("59.7 GB/s", "bandwidth", 59.7e9), ("3.7 pJ", "energy", 3.7e-12), ("8 pJ/bit", "energy_per_byte", 64e-12),
    ("512 KB", "size", 512e3), ("19.2 Mb", "size", 2.4e6), ("1 MiB", "size", 2**20), ("150 MHz", "frequency", 150e6),
    ("0.665 TFLOP/s", "compute_rate", 0.3325e12), ("2 GMAC/s", "compute_rate", 2e9), ("19.2 Gop/s", "op_rate", 19.2e9),
    ("78 TFLOP/s", "op_rate", 78e12), ("20 us", "time", 20e-6), ("2 W", "power", 2.0), ("1e3 B", "size", 1e3),
])
def test_parse(text, dimension, value):
    assert parse_quantity(text, dimension) == pytest.approx(value)


@pytest.mark.parametrize("text, dimension, message", [
    (5, "power", "got the bare number 5; expected a power with a unit"),
    ("5 GB", "power", "unit 'GB' in '5 GB' is not a power unit"),
    ("fast", "bandwidth", "cannot read 'fast'"),
    ("5", "time", "cannot read '5'"),
])
def test_errors(text, dimension, message):
    with pytest.raises(UnitError, match=message):
        parse_quantity(text, dimension, where="t.yaml: field")
