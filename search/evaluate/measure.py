"""Measured latency of a derived network beside the cost model's prediction (``python -m search measure``).

Protocol, stated with every result (:class:`Protocol`, :meth:`Measurement.describe`): the
exported program (``derived.pt2`` in torch, ``derived.onnx`` in ONNX Runtime, or the eager
``derived.pt``) runs on one input of ``batch x 3 x H x W`` uniform in [0, 1] (default: the
input contract's native size), ``warmup`` untimed runs, then ``repeats`` timed runs back to back;
the median, the interquartile range and the minimum are reported. On the CPU with one thread the
timer is the thread's CPU time (``time.thread_time``), as ``cost_models.calibrate`` times the
``host_cpu`` calibration: what a run costs when it has a core to itself on a shared machine.
With more threads it is the wall clock; on CUDA the wall clock around a synchronised run. torch
gets ``threads`` intra-op threads, ONNX Runtime ``threads`` intra-op and 1 inter-op thread.
Memory is kept in the process (``cost_models.calibrate.tune_allocator``) as in the calibration.

The prediction is ``cost_models.profile`` of the same computation (the arch from ``derived.pt`` or
``arch.json`` beside the file; the deployed resizes included when the program has them) at the
same input, on ``target`` (default ``host_cpu``; ``a100`` on CUDA).

>>> Protocol().describe_timer()
'thread CPU time'
"""
from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

import cost_models
import supernet
from cost_models.calibrate import machine_summary, tune_allocator
from search.errors import UserError
from search.report.rundir import read_json
from supernet.export import (
    CONTRACT_FILE,
    ONNX_METADATA_KEY,
    deployed_model,
    load_derived,
)
from supernet.files import atomic_write

RUNTIMES = ("torch", "onnxruntime")
SUFFIX_RUNTIME = {".pt2": "torch", ".pt": "torch", ".onnx": "onnxruntime"}


@dataclass
class Protocol:
    """How to measure: device, runtime, input, threads, warm-up and timed runs."""

    device: str = "cpu"
    runtime: str | None = None            # None: from the file (.pt2/.pt: torch, .onnx: onnxruntime)
    batch: int = 1
    size: tuple[int, int] | None = None   # H, W; None: the contract's native size
    threads: int = 1
    warmup: int = 3
    repeats: int = 20

    def describe_timer(self) -> str:
        if self.device != "cpu":
            return "wall clock (synchronised)"
        return "thread CPU time" if self.threads == 1 else "wall clock"


@dataclass
class Measurement:
    """Times of one measurement, its protocol, the prediction and what it ran on."""

    source: str
    protocol: Protocol
    input_shape: list[int]
    times_s: list[float]
    timer: str
    versions: dict[str, str]
    machine: str
    prediction: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    when: str = ""

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def quartiles_s(self) -> tuple[float, float]:
        q = statistics.quantiles(self.times_s, n=4, method="inclusive") if len(self.times_s) > 1 else \
            [self.times_s[0]] * 3
        return q[0], q[2]

    def to_dict(self) -> dict[str, Any]:
        q1, q3 = self.quartiles_s
        return {"when": self.when, "source": self.source, "protocol": asdict(self.protocol),
                "input_shape": self.input_shape, "timer": self.timer, "median_s": self.median_s,
                "q1_s": q1, "q3_s": q3, "iqr_s": q3 - q1, "min_s": min(self.times_s), "times_s": self.times_s,
                "prediction": self.prediction, "versions": self.versions, "machine": self.machine,
                "notes": self.notes}

    def describe(self) -> str:
        """The result as a few lines for people, protocol first."""
        p, (q1, q3) = self.protocol, self.quartiles_s
        ms = lambda s: f"{1e3 * s:.3g} ms"  # noqa: E731
        lines = [f"{self.source}: {p.runtime} {self.versions.get(p.runtime, '')} on {p.device}, "
                 f"{p.threads} thread(s), input {'x'.join(map(str, self.input_shape))}; "
                 f"{p.warmup} warm-up + {p.repeats} timed runs, {self.timer}",
                 f"  measured   median {ms(self.median_s)}, IQR {ms(q1)} - {ms(q3)} "
                 f"({100 * (q3 - q1) / self.median_s:.1f} % of the median), min {ms(min(self.times_s))}"]
        if self.prediction is not None:
            pr = self.prediction
            lines.append(f"  predicted  {ms(pr['latency_s'])} on {pr['target']} (cost model version "
                         f"{pr['cost_model_version']}): {100 * pr['relative_error']:+.1f} % vs the measured median")
        lines += [f"  note: {n}" for n in self.notes]
        lines.append(f"  machine: {self.machine}")
        return "\n".join(lines)


@dataclass
class Source:
    """What to run: the artifact, its runtime, the run directory and arch when known, the input contract."""

    path: Path
    runtime: str
    run_dir: Path | None
    arch: dict | None
    contract: dict
    program: Any = None   # the loaded ExportedProgram of a .pt2 (read once for its contract)


def resolve(path: str | Path, runtime: str | None = None) -> Source:
    """The artifact to measure: ``RUN_DIR`` (its ``derived.pt2``, or ``derived.onnx`` for
    onnxruntime), or a ``.pt2`` / ``.onnx`` / ``.pt`` file (runtime from the suffix)."""
    path = Path(path)
    if runtime is not None and runtime not in RUNTIMES:
        raise UserError(f"--runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if path.is_dir():
        runtime = runtime or "torch"
        names = ["derived.pt2", "derived.pt"] if runtime == "torch" else ["derived.onnx"]
        found = next((path / n for n in names if (path / n).is_file()), None)
        if found is None:
            raise UserError(f"{path}: no {' or '.join(names)} to measure (run `python -m search derive {path}`)")
        path = found
    elif not path.is_file():
        raise UserError(f"{path}: no such file or run directory")
    if path.suffix not in SUFFIX_RUNTIME:
        raise UserError(f"{path}: expected a run directory or a .pt2, .onnx or .pt file")
    if runtime is not None and runtime != SUFFIX_RUNTIME[path.suffix]:
        raise UserError(f"{path.name} runs in {SUFFIX_RUNTIME[path.suffix]}, not --runtime {runtime}")
    folder = path.parent
    run_dir = folder if (folder / "config.yaml").is_file() else None
    arch = _arch_beside(path)
    program = None
    if path.suffix == ".pt2":
        program, text = _load_program(path)
        contract = json.loads(text) if text else _contract(path, arch)
    else:
        contract = _contract(path, arch)
    return Source(path=path, runtime=SUFFIX_RUNTIME[path.suffix], run_dir=run_dir, arch=arch, contract=contract,
                  program=program)


_PROGRAMS: dict[tuple, tuple[Any, str]] = {}


def _load_program(path: Path) -> tuple[Any, str]:
    """``(ExportedProgram, contract text)``, loaded once per file version in this process (reading a
    program with dynamic shapes parses every symbolic size: seconds)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _PROGRAMS:
        extra = {CONTRACT_FILE: ""}
        _PROGRAMS[key] = (torch.export.load(path, extra_files=extra), extra[CONTRACT_FILE])
    return _PROGRAMS[key]


def _arch_beside(path: Path) -> dict | None:
    """The arch of the network in ``path``'s folder: from ``derived.pt`` (what was exported), else arch.json."""
    if (path.parent / "derived.pt").is_file():
        return load_derived(path.parent / "derived.pt")[1]
    if (path.parent / "arch.json").is_file():
        return supernet.load_arch(path.parent / "arch.json")
    return None


def _contract(path: Path, arch: dict | None) -> dict:
    """The input contract stored in an ONNX file's metadata, else made from the arch."""
    if path.suffix == ".onnx":
        try:
            import onnx  # noqa: PLC0415
        except ImportError:
            raise UserError("measuring a .onnx file needs onnx and onnxruntime "
                            "(pip install onnx onnxruntime)") from None
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        if ONNX_METADATA_KEY in meta:
            return json.loads(meta[ONNX_METADATA_KEY])
    if arch is not None:
        return supernet.export.input_contract(arch)
    raise UserError(f"{path}: no input contract in the file and no derived.pt or arch.json beside it; give --input")


def input_size(source: Source, size: tuple[int, int] | None) -> tuple[int, int]:
    """``size``, else the contract's: its fixed size, or the native size (scaled when the program
    does not resize)."""
    if size is not None:
        return size
    c = source.contract
    if not c.get("dynamic", {}).get("size", True):
        return c["dynamic"]["height"], c["dynamic"]["width"]
    h, w = c["native_size"]
    if not c.get("resize_in_model", True):
        scale = c["inference_scale"]
        h, w = supernet.scaled_size(h, scale), supernet.scaled_size(w, scale)
    return h, w


def runner(source: Source, protocol: Protocol) -> tuple[Callable[[Any], Any], Callable[[torch.Tensor], Any]]:
    """``(run, convert)``: ``run(convert(x))`` runs the artifact once and returns when it is done."""
    device = torch.device(protocol.device)
    if source.runtime == "onnxruntime":
        try:
            import onnxruntime  # noqa: PLC0415
        except ImportError:
            raise UserError("--runtime onnxruntime needs onnxruntime (pip install onnxruntime)") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = protocol.threads, 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        provider = "CPUExecutionProvider" if device.type == "cpu" else "CUDAExecutionProvider"
        if provider not in onnxruntime.get_available_providers():
            raise UserError(f"onnxruntime here has no {provider} (available: "
                            f"{', '.join(onnxruntime.get_available_providers())})")
        session = onnxruntime.InferenceSession(str(source.path), options, providers=[provider])
        name = session.get_inputs()[0].name
        return (lambda x: session.run(None, {name: x})), (lambda x: x.numpy())
    if source.path.suffix == ".pt2":
        module = (source.program or torch.export.load(source.path)).module()
    else:
        model, arch = load_derived(source.path)
        module = deployed_model(model.eval(), arch)
    try:
        module = module.to(device)
    except Exception as err:  # an exported program may pin constants to the device it was traced on
        raise UserError(f"{source.path} cannot run on {device}: {type(err).__name__}: {err}; "
                        f"measure derived.pt instead") from None

    def run(x: torch.Tensor) -> Any:
        with torch.no_grad():
            y = module(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return y

    return run, (lambda x: x.to(device))


def time_runs(run: Callable[[Any], Any], x: Any, protocol: Protocol) -> list[float]:
    """``protocol.warmup`` untimed runs, then the times of ``protocol.repeats`` runs."""
    clock = time.thread_time if protocol.describe_timer() == "thread CPU time" else time.perf_counter
    for _ in range(protocol.warmup):
        run(x)
    times = []
    for _ in range(protocol.repeats):
        start = clock()
        run(x)
        times.append(clock() - start)
    return times


def predict(arch: dict, contract: dict, shape: tuple[int, ...], target: str) -> dict[str, Any]:
    """The cost model's latency of the computation the artifact runs, at ``shape`` on ``target``."""
    arch = {**arch, "input": {**arch["input"], "resize_in_model": bool(contract.get("resize_in_model", True))}}
    model = deployed_model(supernet.build_from_arch(arch).eval(), supernet.arch.validate_arch(arch))
    rep = cost_models.profile(model, shape, target=target)
    hardware = cost_models.load_target(target)
    return {"target": hardware.name, "target_file": hardware.source, "latency_s": rep.latency_s,
            "macs": rep.macs, "cost_model_version": cost_models.COST_MODEL_VERSION}


def versions(runtime: str) -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__}
    if runtime == "onnxruntime":
        import onnxruntime  # noqa: PLC0415
        out["onnxruntime"] = onnxruntime.__version__
    return out


def measure(path: str | Path, protocol: Protocol, target: str | None = None) -> Measurement:
    """Measure the artifact at ``path`` by ``protocol`` and predict it on ``target`` (see the module docstring)."""
    for name, value in (("batch", protocol.batch), ("threads", protocol.threads), ("repeats", protocol.repeats)):
        if value < 1:
            raise UserError(f"--{name} must be a positive integer, got {value}")
    if protocol.warmup < 0:
        raise UserError(f"--warmup must not be negative, got {protocol.warmup}")
    if protocol.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda: CUDA is not available here (torch.cuda.is_available() is False)")
    target = target or ("host_cpu" if protocol.device == "cpu" else "a100")
    cost_models.load_target(target)  # an unknown target fails before anything is loaded
    source = resolve(path, protocol.runtime)
    protocol.runtime = source.runtime
    protocol.size = tuple(input_size(source, protocol.size))
    shape = (protocol.batch, 3, *protocol.size)
    notes = _check_size(source.contract, protocol.size)
    previous = torch.get_num_threads()
    torch.set_num_threads(protocol.threads)
    try:
        if protocol.device == "cpu":
            tune_allocator()
        run, convert = runner(source, protocol)
        x = convert(torch.rand(shape, generator=torch.Generator().manual_seed(0)))
        times = time_runs(run, x, protocol)
    finally:
        torch.set_num_threads(previous)
    prediction = None
    if source.arch is not None:
        prediction = predict(source.arch, source.contract, shape, target)
        prediction["relative_error"] = prediction["latency_s"] / statistics.median(times) - 1
    else:
        notes.append("no derived.pt or arch.json beside the file: no prediction")
    return Measurement(source=str(source.path), protocol=protocol, input_shape=list(shape), times_s=times,
                       timer=protocol.describe_timer(), versions=versions(source.runtime),
                       machine=machine_summary(protocol.threads), prediction=prediction, notes=notes,
                       when=time.strftime("%Y-%m-%d %H:%M:%S %Z"))


def _check_size(contract: dict, size: tuple[int, int]) -> list[str]:
    """A size the program does not take is an error here rather than a guard failure deep in torch."""
    dyn = contract.get("dynamic", {})
    h, w = size
    if not dyn:
        return []
    if not dyn.get("size", True):
        if (h, w) != (dyn["height"], dyn["width"]):
            raise UserError(f"--input: this program takes only {dyn['height']}x{dyn['width']} images, got {h}x{w}")
        return []
    low, multiple = dyn.get("min_height", 1), dyn.get("multiple_of", 1)
    if min(h, w) < low or h % multiple or w % multiple:
        raise UserError(f"--input: this program takes H, W >= {low} that are multiples of {multiple}, got {h}x{w}")
    return []


def record(run_dir: str | Path, measurement: Measurement) -> Path:
    """Append ``measurement`` to ``run_dir/report.json`` under ``measurements`` (atomically)."""
    path = Path(run_dir) / "report.json"
    report = read_json(path, f"{path} does not exist (the run has not finished); measure without --write")
    report.setdefault("measurements", []).append(measurement.to_dict())
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(report, indent=2) + "\n"))
    return path
