"""supernet.arch / space: hostile or mistaken archs fail with an ArchError before anything is allocated."""
import json

import pytest
import torch

import supernet
from supernet import space as space_module
from supernet.arch import MAX_ARCH_BYTES, build_from_arch, load_arch, site_options
from supernet.space import MAX_CHANNELS, ArchError, Space


@pytest.fixture(scope="module")
def arch():
    return supernet.baseline_arch("pspnet", 3, width_mult=0.5, widest=0.5)


@pytest.mark.parametrize("value", [None, 3, ["format"], b"{}"])
def test_build_from_arch_names_what_it_expects(value):
    with pytest.raises(ArchError, match=rf"expects an arch dict or the path of an arch.json, got {type(value).__name__}"):
        build_from_arch(value)


@pytest.fixture
def meta_only(monkeypatch):
    """Fail if a family builds layers anywhere but on the meta device (which allocates nothing)."""
    original = supernet.arch.build_family

    def build_family(*args, **kwargs):
        assert torch.empty(0).device.type == "meta", "layers were allocated before the arch was validated"
        return original(*args, **kwargs)
    monkeypatch.setattr(supernet.arch, "build_family", build_family)


@pytest.mark.parametrize("space, message", [
    ({"widest": 200}, rf"arch: space option widest=200 makes 'backbone.stage1.width' 4800 channels wide, "
                      rf"above the limit of {MAX_CHANNELS} channels \(supernet.space.MAX_CHANNELS\)"),
    ({"widest": float("inf")}, "widest must be a finite number > 0, got inf"),
    ({"widest": float("nan")}, "widest must be a finite number > 0, got nan"),
    ({"width_fractions": [0.0001]}, r"width_fractions must be fractions in \[1/64, 1\], got .*0.0001"),
    ({"width_fractions": [True, 1.0]}, r"width_fractions must be fractions in \[1/64, 1\]"),
])
def test_huge_or_degenerate_space_is_refused_before_building(arch, space, message, meta_only):
    bad = {**arch, "space": space}
    bad.pop("layers", None)
    with pytest.raises(ArchError, match=message):
        build_from_arch(bad)


def test_huge_arch_file_fails_with_the_file_named(tmp_path, arch, meta_only):
    path = tmp_path / "arch.json"
    bad = {**arch, "space": {"widest": 200}}
    bad.pop("layers", None)
    path.write_text(json.dumps(bad))
    with pytest.raises(ArchError, match=rf"{path}: .*above the limit of {MAX_CHANNELS} channels \(supernet.space.MAX_CHANNELS\)"):
        build_from_arch(path)
    with pytest.raises(ArchError, match=f"num_classes 100000 is above the limit of {MAX_CHANNELS}"):
        build_from_arch({**arch, "num_classes": 100_000})
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ArchError, match="not valid JSON: nested too deeply"):
        load_arch(path)
    path.write_bytes(b" " * (MAX_ARCH_BYTES + 1))
    with pytest.raises(ArchError, match=f"above the limit of {MAX_ARCH_BYTES}"):
        load_arch(path)


def test_the_channel_limit_can_be_raised(monkeypatch):
    with pytest.raises(ArchError, match="above the limit"):
        Space(widest=20).width("a.width", 256)
    monkeypatch.setattr(space_module, "MAX_CHANNELS", 8192)
    assert Space(widest=20).width("a.width", 256).widest == 5120
    assert site_options("pspnet", 5000)[0]  # num_classes follows the same limit
