"""supernet.export: derived.pt round trip; derived.pt2 and derived.onnx run without the project and
match the PyTorch module at two batch sizes and two input sizes.

Exporting is slow (torch.export and the ONNX exporter trace symbolically: 5-20 s per network on
a busy 2-core machine); each family is exported once per module.
"""
import json
import subprocess
import sys
import sysconfig
import textwrap

import pytest
import torch

import supernet
from supernet.arch import validate_arch
from supernet.deployed import min_native_size, size_multiple
from supernet.export import CONTRACT_FILE, ONNX_METADATA_KEY, deployed_model, load_derived, save_derived
from supernet.space import ArchError

CASES = {"pspnet": 0.75, "deeplabv3plus": 1.0, "multires": 0.5}  # family -> inference scale
FAMILIES = list(CASES)
HAVE_ONNX = all(__import__("importlib").util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))


def randomize_bn(net: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial batch-norm statistics, so that a wrong export shows."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    torch.manual_seed(0)
    net = supernet.build_supernet("deeplabv3plus", num_classes=3)
    arch = supernet.random_arch("deeplabv3plus", 3, 5)
    slim = net.derive(arch).eval()
    x = torch.randn(1, 3, 48, 64)
    out = tmp_path_factory.mktemp("export")
    save_derived(slim, arch, out / "derived.pt")
    with torch.no_grad():
        torch.save({"x": x, "y": slim(x)}, out / "io.pt")
    return slim, validate_arch(arch, with_layers=True), out


def test_pt_round_trip(derived):
    slim, arch, out = derived
    data = torch.load(out / "derived.pt", weights_only=True)
    assert set(data) == {"arch", "state_dict"} and data["arch"] == arch
    assert data["arch"]["input"]["value_range"] == [0.0, 1.0] and data["arch"]["input"]["normalization"] is None
    assert data["arch"]["data"]["inference_scale"] == 1.0 and data["arch"]["layers"]
    model = supernet.build_from_arch(data["arch"])
    model.load_state_dict(data["state_dict"])
    loaded, loaded_arch = load_derived(out / "derived.pt")
    io = torch.load(out / "io.pt", weights_only=True)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(io["x"]), io["y"])
        torch.testing.assert_close(loaded.eval()(io["x"]), io["y"])
    assert loaded_arch == arch


@pytest.fixture(scope="module", params=FAMILIES)
def exported(request, tmp_path_factory):
    family, scale = request.param, CASES[request.param]
    torch.manual_seed(0)
    arch = supernet.baseline_arch(family, 3, width_mult=0.25, inference_scale=scale)
    m = size_multiple(scale)
    side = m * -(-min_native_size(family, scale) // m)  # the smallest size the program takes
    arch["input"] = {"native_size": [side + 4 * m, side + 8 * m]}
    net = supernet.build_from_arch(arch).eval()
    randomize_bn(net)
    out = tmp_path_factory.mktemp(f"export-{family}")
    result = save_derived(net, arch, out / "derived.pt", out / "derived.pt2",
                          path_onnx=out / "derived.onnx" if HAVE_ONNX else None)
    assert result.notes == [] and result.contract["dynamic"]["size"]
    deployed = deployed_model(net, validate_arch(arch))
    g = torch.Generator().manual_seed(1)
    shapes = [(1, 3, *arch["input"]["native_size"]), (3, 3, side, side + 12 * m)]  # two batches, two sizes
    xs = [torch.rand(s, generator=g) for s in shapes]
    with torch.no_grad():
        ys = [deployed(x) for x in xs]
    torch.save({"xs": xs, "ys": ys}, out / "io.pt")
    return family, result, out


def run_isolated(script: str, cwd) -> dict:
    """Run ``script`` in a Python that cannot import this project: ``-I -S`` (no PYTHONPATH, no
    current directory, no ``.pth`` files, so no editable install either), cwd elsewhere, and only
    the interpreter's site-packages on the path (torch, onnxruntime)."""
    packages = list(dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")))
    prelude = textwrap.dedent(f"""
        import sys
        sys.path.extend({packages!r})
        import importlib.util, json
        for name in ("supernet", "cost_models", "search"):
            assert importlib.util.find_spec(name) is None, name
            try:
                __import__(name)
            except ModuleNotFoundError:
                pass
            else:
                sys.exit(f"{{name}} is importable")
    """)
    run = subprocess.run([sys.executable, "-I", "-S", "-c", prelude + textwrap.dedent(script)], cwd=cwd,
                         capture_output=True, text=True, timeout=600,
                         env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_exports_run_without_the_project(exported, tmp_path):
    """derived.pt2 (and derived.onnx in ONNX Runtime) in a Python that cannot import the project,
    against the PyTorch module at batch 1 and 3 and two input sizes."""
    family, result, out = exported
    got = run_isolated(f"""
        import torch
        io = torch.load({str(out / "io.pt")!r}, weights_only=True)
        extra = {{{CONTRACT_FILE!r}: ""}}
        module = torch.export.load({str(out / "derived.pt2")!r}, extra_files=extra).module()
        outs = [module(x) for x in io["xs"]]
        got = {{"errors": [float((o - y).abs().max()) for o, y in zip(outs, io["ys"])],
               "shapes": [list(o.shape) for o in outs], "contract": json.loads(extra[{CONTRACT_FILE!r}])}}
        if {HAVE_ONNX!r}:
            import onnx, onnxruntime
            path = {str(out / "derived.onnx")!r}
            meta = {{p.key: p.value for p in onnx.load(path).metadata_props}}
            session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
            got["onnx_errors"] = [float(abs(session.run(None, {{"image": x.numpy()}})[0] - y.numpy()).max())
                                  for x, y in zip(io["xs"], io["ys"])]
            got["onnx_contract"] = json.loads(meta[{ONNX_METADATA_KEY!r}])
            got["onnx_input"] = [str(d) for d in session.get_inputs()[0].shape]
        print(json.dumps(got))
    """, tmp_path)
    assert max(got["errors"]) < 1e-5, got["errors"]
    io = torch.load(out / "io.pt", weights_only=True)
    assert got["shapes"] == [[x.shape[0], 3, *x.shape[-2:]] for x in io["xs"]]
    contract = got["contract"]
    assert contract["family"] == family and contract["inference_scale"] == CASES[family]
    assert contract["value_range"] == [0.0, 1.0] and contract["normalization"] is None
    assert contract["resize_in_model"] is True and contract["dynamic"]["batch"] and contract["dynamic"]["size"]
    if HAVE_ONNX:
        assert result.onnx == out / "derived.onnx"
        assert max(got["onnx_errors"]) < 1e-4, got["onnx_errors"]
        assert got["onnx_contract"] == contract and got["onnx_input"][1] == "3"
        assert not got["onnx_input"][0].isdigit() and not got["onnx_input"][2].isdigit()  # batch, height: symbols


def test_small_example_falls_back_to_a_fixed_size(tmp_path):
    arch = supernet.baseline_arch("pspnet", 3, width_mult=0.25)
    arch["input"] = {"native_size": [12, 16]}  # below the 17 pixels a dynamic pspnet program needs
    net = supernet.build_from_arch(arch).eval()
    result = save_derived(net, arch, tmp_path / "derived.pt", tmp_path / "derived.pt2")
    assert result.contract["dynamic"] == {"batch": True, "size": False, "height": 12, "width": 16}
    assert len(result.notes) == 1 and "fixed at 12x16" in result.notes[0]
    program = torch.export.load(tmp_path / "derived.pt2").module()
    x = torch.rand(2, 3, 12, 16)
    with torch.no_grad():
        torch.testing.assert_close(program(x), net(x))


def test_missing_onnx_is_a_note_not_a_failure(tmp_path, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name in ("onnx", "onnxscript"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    arch = supernet.baseline_arch("pspnet", 3, width_mult=0.25)
    arch["input"] = {"native_size": [12, 16]}
    net = supernet.build_from_arch(arch).eval()
    result = save_derived(net, arch, tmp_path / "derived.pt", None, path_onnx=tmp_path / "derived.onnx")
    assert result.onnx is None and not (tmp_path / "derived.onnx").exists()
    assert result.notes[-1] == "derived.onnx skipped: onnx is not installed (pip install onnx onnxscript)"


def test_corrupt_or_wrong_files(tmp_path, derived):
    _, arch, out = derived
    broken = tmp_path / "derived.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ArchError, match="not a readable derived.pt"):
        load_derived(broken)
    torch.save({"arch": arch}, tmp_path / "partial.pt")
    with pytest.raises(ArchError, match="'arch' and 'state_dict'"):
        load_derived(tmp_path / "partial.pt")
    state = torch.load(out / "derived.pt", weights_only=True)
    other = supernet.baseline_arch("deeplabv3plus", 3)
    torch.save({"arch": other, "state_dict": state["state_dict"]}, tmp_path / "mismatch.pt")
    with pytest.raises(ArchError, match="weights do not fit the arch"):
        load_derived(tmp_path / "mismatch.pt")
