import site
import subprocess
import sys
import textwrap

import pytest
import torch

import supernet
from supernet.export import load_derived, save_derived
from supernet.space import ArchError


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    torch.manual_seed(0)
    net = supernet.build_supernet("deeplabv3plus", num_classes=3)
    arch = supernet.random_arch("deeplabv3plus", 3, 5)
    slim = net.derive(arch).eval()
    x = torch.randn(1, 3, 48, 64)
    out = tmp_path_factory.mktemp("export")
    save_derived(slim, arch, out / "derived.pt", out / "derived.pt2", x)
    with torch.no_grad():
        torch.save({"x": x, "y": slim(x)}, out / "io.pt")
    return slim, arch, out


def test_pt_round_trip(derived):
    slim, arch, out = derived
    data = torch.load(out / "derived.pt", weights_only=True)
    assert set(data) == {"arch", "state_dict"} and data["arch"] == arch
    model = supernet.build_from_arch(data["arch"])
    model.load_state_dict(data["state_dict"])
    loaded, loaded_arch = load_derived(out / "derived.pt")
    io = torch.load(out / "io.pt", weights_only=True)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(io["x"]), io["y"])
        torch.testing.assert_close(loaded.eval()(io["x"]), io["y"])
    assert loaded_arch == arch


def test_pt2_runs_without_the_project(derived, tmp_path):
    _, _, out = derived
    # -S: no site-packages .pth files, so an editable install of this project is not on the path;
    # the site-packages folders themselves (torch) are added by hand
    script = textwrap.dedent(f"""
        import sys; sys.path.extend({site.getsitepackages()!r})
        import importlib.util, torch
        assert importlib.util.find_spec("supernet") is None and importlib.util.find_spec("cost_models") is None
        program = torch.export.load({str(out / "derived.pt2")!r})
        io = torch.load({str(out / "io.pt")!r}, weights_only=True)
        y = program.module()(io["x"])
        print(float((y - io["y"]).abs().max()))
    """)
    run = subprocess.run([sys.executable, "-I", "-S", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}, timeout=300)
    assert run.returncode == 0, run.stderr
    assert float(run.stdout.strip()) < 1e-5


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
