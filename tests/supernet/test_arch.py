import json
import random

import pytest
import torch

import supernet
from supernet.arch import load_arch, save_arch, site_options, validate_arch
from supernet.space import ArchError


@pytest.fixture
def arch():
    return supernet.baseline_arch("deeplabv3plus", 4, width_mult=0.5, inference_scale=0.75)


def test_baseline_picks_the_nearest_width(arch):
    options, _ = site_options("deeplabv3plus", 4)
    for name, opts in options.items():
        value = arch["choices"][name]
        if opts == (False, True):
            assert value is True
        else:
            assert value in opts and all(abs(value - max(opts) / 2) <= abs(o - max(opts) / 2) for o in opts)
    assert arch["choices"]["data.inference_scale"] == arch["data"]["inference_scale"] == 0.75
    narrow = supernet.baseline_arch("deeplabv3plus", 4, width_mult=0.01)
    assert all(narrow["choices"][n] == min(o) for n, o in options.items() if o != (False, True))
    macs = [sum(layer["macs"] for layer in validate_arch(supernet.baseline_arch("pspnet", 4, width_mult=m),
                                                          with_layers=True)["layers"])
            for m in (0.3, 0.45, 0.6, 0.8, 1.0)]
    assert macs == sorted(macs) and len(set(macs)) == len(macs)


def test_layers_describe_the_built_network(arch):
    net = supernet.build_from_arch(arch)
    layers = validate_arch(arch, with_layers=True)["layers"]
    convs = {n: m for n, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)}
    listed = {l["name"]: l["attrs"] for l in layers if l["op"] == "conv2d"}
    assert set(listed) == set(convs)
    for name, conv in convs.items():
        assert (listed[name]["in"], listed[name]["out"], listed[name]["groups"]) == \
               (conv.in_channels, conv.out_channels, conv.groups)
    assert layers[1]["name"] == "stem.conv" and layers[1]["inputs"] == ["resize_input"]


def test_save_and_load_round_trip(tmp_path, arch):
    path = tmp_path / "arch.json"
    arch["data"]["train_gate"] = {"actions": ["drop", 0.5, 0.75, 1.0]}
    save_arch(arch, path)
    assert load_arch(path) == validate_arch(arch, with_layers=True)
    assert [p.name for p in tmp_path.iterdir()] == ["arch.json"]  # no temporary file left
    net = supernet.build_from_arch(path)
    assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 4, 32, 32)


def test_random_archs_are_valid_and_differ():
    archs = [supernet.random_arch("pspnet", 4, random.Random(s)) for s in range(4)]
    assert len({json.dumps(a["choices"], sort_keys=True) for a in archs}) == 4
    for a in archs:
        assert any(a["choices"][f"head.ppm.bin{b}"] for b in (1, 2, 3, 6))
    assert supernet.random_arch("pspnet", 4, 7) == supernet.random_arch("pspnet", 4, random.Random(7))


def test_space_options_are_recorded_and_used():
    arch = supernet.baseline_arch("multires", 4, width_mult=0.5, width_fractions=[0.5, 1.0], widest=0.5)
    assert arch["space"] == {"widest": 0.5, "width_fractions": [0.5, 1.0]}
    assert arch["choices"]["backbone.branch32.width"] == 24
    assert validate_arch(arch) == arch


def bad(arch, **changes):
    arch = json.loads(json.dumps(arch))
    for key, value in changes.items():
        if value is ...:
            arch.pop(key, None)
        else:
            arch[key] = value
    return arch


def choices(arch, **changes):
    out = dict(arch["choices"])
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is ...:
            del out[key]
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("change,message", [
    (dict(family="unet"), "unknown family 'unet'"),
    (dict(format="other"), "format is 'other'"),
    (dict(version=4), "unsupported version 4"),
    (dict(family=...), "missing field 'family'"),
    (dict(choices=...), "missing field 'choices'"),
    (dict(num_classes=0), "num_classes must be a positive integer"),
    (dict(extra=1), "unknown field 'extra'"),
    (dict(layers={}), "field 'layers' must be a JSON array"),
    (dict(space={"depth": 2}), "unknown space option"),
    (dict(data={"inference_scale": 0.5}), "differ"),
])
def test_bad_fields(arch, change, message):
    with pytest.raises(ArchError, match=message):
        validate_arch(bad(arch, **change))


@pytest.mark.parametrize("change,message", [
    (dict(nope=3), "unknown choice 'nope'"),
    (dict(backbone__stage2__width=33), r"'backbone.stage2.width': 33 is not one of its options"),
    (dict(head__aspp__rate6=1), r"'head.aspp.rate6': 1 is not one of its options"),
    (dict(backbone__stem__width=...), "missing choice 'backbone.stem.width'"),
    (dict(data__inference_scale=0), "must be a number in"),
    (dict(head__aspp__rate1=False, head__aspp__rate6=False, head__aspp__rate12=False, head__aspp__rate18=False,
          head__aspp__pool=False), "at least one branch must be kept"),
])
def test_bad_choices(arch, change, message):
    arch = bad(arch, choices=choices(arch, **change), layers=..., data=...)
    with pytest.raises(ArchError, match=message):
        validate_arch(arch)


def test_layers_that_do_not_match_are_an_error(arch):
    arch = validate_arch(arch, with_layers=True)
    layers = json.loads(json.dumps(arch["layers"]))
    assert layers[4]["op"] == "conv2d"
    layers[4]["attrs"]["out"] += 4
    with pytest.raises(ArchError, match="first difference at entry 4"):
        validate_arch(bad(arch, layers=layers))


def test_file_errors_name_the_file(tmp_path, arch):
    with pytest.raises(ArchError, match="does not exist"):
        load_arch(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ArchError, match="broken.json: not valid JSON"):
        load_arch(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(bad(arch, version=9)))
    with pytest.raises(ArchError, match="wrong.json: unsupported version 9"):
        supernet.build_from_arch(wrong)


def test_bad_baseline_arguments():
    with pytest.raises(ArchError, match="width_mult must be in"):
        supernet.baseline_arch("pspnet", 4, width_mult=1.5)
    with pytest.raises(ArchError, match="unknown family"):
        supernet.baseline_arch("segformer", 4)
    with pytest.raises(ArchError, match="inference_scale"):
        supernet.baseline_arch("pspnet", 4, inference_scale=-1)


@pytest.mark.parametrize("family", ["deeplabv3plus", "pspnet"])
def test_files_older_than_the_depth_sites_keep_every_block(tmp_path, family):
    """A version-2 arch.json has no ``backbone.stage{i}.block2``: it is read as the network it
    described (every block kept); a current file without them is an error."""
    arch = supernet.baseline_arch(family, 3, width_mult=0.5)
    old = {**arch, "version": 2, "choices": {k: v for k, v in arch["choices"].items() if ".block" not in k}}
    assert len(old["choices"]) == len(arch["choices"]) - 3
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = load_arch(tmp_path / "old.json")
    assert loaded["version"] == 3 and loaded["choices"] == arch["choices"]
    with pytest.raises(ArchError, match="missing choice 'backbone.stage2.block2'"):
        validate_arch({**old, "version": 3})
