"""``python -m search derive``: edited archs get their layers regenerated; retrained weights are never
replaced silently."""
import json
import shutil

import pytest
import torch

import supernet
from search_testing import TINY, run_cli


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A search-only run of the tiny config (arch.json and checkpoints/search.pt, no derived.pt)."""
    out = tmp_path_factory.mktemp("derive") / "run"
    cache = tmp_path_factory.mktemp("features")
    code, _, stderr = run_cli("search", TINY, "--out", out, f"data.cache_dir={cache}")
    assert code == 0, stderr
    return out


@pytest.fixture
def run(searched, tmp_path):
    return shutil.copytree(searched, tmp_path / "run")


def test_derive_writes_a_consistent_arch_and_refuses_to_replace_it(run):
    code, stdout, stderr = run_cli("derive", run, "--no-onnx")
    assert code == 0, stderr
    assert f"wrote {run / 'arch.json'}, {run / 'derived.pt'}, {run / 'derived.pt2'}" in stdout
    arch = supernet.load_arch(run / "arch.json")
    assert arch["input"]["native_size"] == [32, 64]  # the run's image size
    assert arch["layers"][0]["input_shapes"] == [[1, 3, 32, 64]] and arch["layers"][-1]["output_shape"][2:] == [32, 64]
    derived = torch.load(run / "derived.pt", weights_only=True)
    assert derived["arch"] == arch
    before = (run / "derived.pt").read_bytes()
    code, _, stderr = run_cli("derive", run, "--no-onnx")
    assert code == 2 and "derived.pt exists" in stderr and "--out DIR" in stderr and "--force" in stderr
    assert (run / "derived.pt").read_bytes() == before
    code, _, stderr = run_cli("derive", run, "--no-onnx", "--force")
    assert code == 0, stderr


def edit(arch: dict) -> dict:
    """Another width for the first width site whose options allow one; stale layers and cost kept."""
    options, _ = supernet.arch.site_options(arch["family"], arch["num_classes"], **arch["space"])
    name, opts = next((n, o) for n, o in options.items() if len(o) > 2)
    edited = json.loads(json.dumps(arch))
    edited["choices"][name] = next(o for o in opts if o != arch["choices"][name])
    edited["cost"] = {"jetson_tx2": {"macs": 1.0}}
    return edited


def test_derive_an_edited_arch(run, tmp_path):
    original = json.loads((run / "arch.json").read_text())
    arch = supernet.load_arch(run / "arch.json")  # with layers, as a user would have it
    edited = edit(arch)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited))
    with pytest.raises(supernet.ArchError, match="does not match the network"):
        supernet.load_arch(path)  # the stale layers alone would be an error
    code, _, stderr = run_cli("derive", run, "--arch", path, "--no-onnx")
    assert code == 2 and "would replace" in stderr and "--out DIR" in stderr
    assert json.loads((run / "arch.json").read_text()) == original
    out = tmp_path / "edited"
    code, stdout, stderr = run_cli("derive", run, "--arch", path, "--out", out, "--no-onnx")
    assert code == 0, stderr
    assert "note: cost dropped" in stdout
    written = supernet.load_arch(out / "arch.json")  # consistent: layers regenerated from the edited choices
    assert written["choices"] == edited["choices"] and "cost" not in written
    assert written["layers"] != arch["layers"]
    model, loaded = supernet.export.load_derived(out / "derived.pt")
    assert loaded == written
    program = torch.export.load(out / "derived.pt2").module()
    x = torch.rand(2, 3, 32, 64)
    with torch.no_grad():
        torch.testing.assert_close(program(x), supernet.export.deployed_model(model.eval(), written)(x))
    code, _, stderr = run_cli("derive", run, "--arch", path, "--out", out, "--no-onnx")
    assert code == 2 and "exists" in stderr and "--force" in stderr
