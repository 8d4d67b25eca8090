"""arch.json version 2 (supernet.contract, supernet.arch): input contract, every layer, cost block, one scale."""
import json

import pytest

import cost_models
import supernet
from supernet.arch import load_arch, save_arch, validate_arch
from supernet.contract import cost_block
from supernet.space import ArchError


@pytest.fixture(scope="module")
def arch():
    arch = supernet.baseline_arch("deeplabv3plus", 4, width_mult=0.25, inference_scale=0.5)
    arch["input"] = {"native_size": [64, 96]}
    return validate_arch(arch, with_layers=True)


def test_every_layer_with_shapes_and_edges(arch):
    layers = arch["layers"]
    names = [layer["name"] for layer in layers]
    assert len(set(names)) == len(names)
    assert {"conv2d", "batch_norm", "relu", "interpolate", "cat", "add", "adaptive_avg_pool2d"} <= \
           {layer["op"] for layer in layers}
    first, last = layers[0], layers[-1]
    assert (first["name"], first["inputs"], first["input_shapes"]) == ("resize_input", ["input"], [[1, 3, 64, 96]])
    assert first["output_shape"] == [1, 3, 32, 48]
    assert last["name"] == "resize_output" and last["output_shape"] == [1, 4, 64, 96]
    out_shapes = {layer["name"]: layer["output_shape"] for layer in layers}
    seen = {"input"}
    for layer in layers:
        assert set(layer["inputs"]) <= seen, layer["name"]  # edges point back to earlier layers
        seen.add(layer["name"])
        if len(layer["inputs"]) == 1 and len(layer["input_shapes"]) == 1 and layer["inputs"] != ["input"]:
            assert layer["input_shapes"][0] == out_shapes[layer["inputs"][0]], layer["name"]
    assert sum(layer["macs"] for layer in layers) == cost_models.profile(
        supernet.export.deployed_model(supernet.build_from_arch(arch), arch), (1, 3, 64, 96), "host_cpu").macs
    json.dumps(arch)  # all of it is JSON


def test_network_alone_is_listed_at_the_scaled_size(arch):
    raw = {k: v for k, v in arch.items() if k != "layers"}
    raw["input"] = {**arch["input"], "resize_in_model": False}
    alone = validate_arch(raw, with_layers=True)
    assert alone["layers"][0]["input_shapes"] == [[1, 3, 32, 48]] and alone["layers"][0]["op"] == "conv2d"
    assert alone["layers"][-1]["output_shape"] == [1, 4, 32, 48]


def test_input_contract_defaults(arch):
    assert arch["input"] == {"layout": "NCHW", "channels": 3, "dtype": "float32", "value_range": [0.0, 1.0],
                             "normalization": None, "native_size": [64, 96], "resize_in_model": True}
    assert supernet.baseline_arch("pspnet", 4)["input"]["native_size"] == [512, 1024]


@pytest.mark.parametrize("block, message", [
    ({"channels": 1}, "input.channels: only 3 is supported"),
    ({"native_size": [0, 5]}, "input.native_size: expected"),
    ({"native_size": 64}, "input.native_size: expected"),
    ({"value_range": [1, 0]}, "input.value_range"),
    ({"normalization": {"mean": [0.5]}}, "input.normalization"),
    ({"resize_in_model": "yes"}, "input.resize_in_model"),
    ({"colour": "rgb"}, "unknown field 'colour'"),
])
def test_bad_input_blocks(arch, block, message):
    with pytest.raises(ArchError, match=message):
        validate_arch({**{k: v for k, v in arch.items() if k != "layers"}, "input": block})


def test_one_inference_scale(arch):
    raw = {k: v for k, v in arch.items() if k != "layers"}
    # the learned distribution's own argmax is not a second inference scale
    raw["data"] = {"inference_scale": 0.5, "resolution": {"scales": [0.5, 1.0], "probs": [0.4, 0.6],
                                                         "inference_scale": 1.0}}
    out = validate_arch(raw)
    assert out["data"]["inference_scale"] == 0.5 and "inference_scale" not in out["data"]["resolution"]
    assert out["data"]["resolution"]["argmax_scale"] == 1.0
    raw["data"]["resolution"]["argmax_scale"] = 0.5
    with pytest.raises(ArchError, match="inference_scale and argmax_scale differ"):
        validate_arch(raw)
    no_scale = {k: v for k, v in raw.items() if k != "data"}
    no_scale["choices"] = {k: v for k, v in raw["choices"].items() if k != "data.inference_scale"}
    assert validate_arch(no_scale)["data"] == {"inference_scale": 1.0}


def test_version_1_files_are_read_and_upgraded(tmp_path, arch):
    v1 = {k: v for k, v in arch.items() if k not in ("layers", "input")}
    v1["version"] = 1
    v1["layers"] = [{"name": "stem.conv", "op": "conv2d", "in": 3, "out": 8, "kernel": 3, "stride": 2,
                     "dilation": 1, "groups": 1}]
    v1["data"] = {"inference_scale": 0.5, "resolution": {"scales": [0.5, 1.0], "inference_scale": 0.5}}
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(v1))
    loaded = load_arch(path)
    assert loaded["version"] == 3 and loaded["layers"][0]["name"] == "resize_input"
    assert loaded["data"]["resolution"] == {"scales": [0.5, 1.0], "argmax_scale": 0.5}
    assert loaded["input"]["native_size"] == [512, 1024]
    save_arch(loaded, path)
    assert load_arch(path) == loaded


def test_cost_block(tmp_path, arch):
    block = cost_block({"jetson_tx2": {"macs": 1e6, "latency_s": 1e-3, "images": 1}}, (1, 3, 64, 96), ("macs",))
    assert block == {"input_shape": [1, 3, 64, 96], "cost_model_version": cost_models.COST_MODEL_VERSION,
                     "jetson_tx2": {"macs": 1e6}}
    save_arch({**arch, "cost": block}, tmp_path / "arch.json")
    assert load_arch(tmp_path / "arch.json")["cost"] == block
    for bad, message in [({**block, "input_shape": [3, 64]}, "cost.input_shape"),
                         ({**block, "cost_model_version": "1"}, "cost.cost_model_version"),
                         ({**block, "jetson_tx2": 5}, "cost.jetson_tx2")]:
        with pytest.raises(ArchError, match=message):
            validate_arch({**arch, "cost": bad})
