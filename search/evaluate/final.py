"""The final phase: batch-norm recalibration, evaluation, cost on every target, export, report."""
from __future__ import annotations

import copy
import time
from typing import Any

import supernet
from search.data.splits import Splits
from search.derive import inference_scale
from search.engine.session import Session
from search.evaluate.evaluate import evaluate
from search.report.costs import (
    Work,
    full_network_reference,
    inference_costs,
    row_batch,
    search_costs,
    step_work,
    training_costs,
)
from search.report.report import build_report, run_entry
from search.report.tensorboard import add_hparams, final_metrics
from search.report.write import write_report_files
from search.train.phase import make_trainer
from search.train.trainer import recalibrate_at_scale
from supernet.contract import cost_block
from supernet.export import save_derived

COST_KEYS = ("macs", "dram_bytes", "energy_j", "latency_s")


def final_phase(session: Session, splits: Splits, state: dict[str, Any]) -> dict[str, Any]:
    """Evaluate, cost on every target, export derived.pt / .pt2, write arch.json and the report."""
    cfg, run, env = session.cfg, session.run, session.env
    trainer = make_trainer(session, splits, state)
    model, arch = trainer.model, copy.deepcopy(state["arch"])
    scale = inference_scale(arch)
    search = state.get("search") or {}
    # forward passes of batch-norm recalibration: at the hand-over from the search (one budget) and after training
    bn_work = [Work("bn_recalibration", w[0], w[1], False, row_batch(w, 2)) for w in search.get("bn_passes", [])]
    wall = {"search": float(search.get("wall_s", 0.0))} if search.get("work") is not None else {}
    wall.update(train=trainer.wall_s, bn_recalibration=float(search.get("bn_wall_s", 0.0)))
    if cfg.train.recalibrate_bn:
        t0 = time.perf_counter()
        bn_work.append(Work("bn_recalibration", scale, recalibrate_at_scale(model, splits.train, scale,
                                                                            cfg.data.batch_size, session.device),
                            False, cfg.data.batch_size))
        wall["bn_recalibration"] += time.perf_counter() - t0
    if not bn_work:
        wall.pop("bn_recalibration")
    wall_s = sum(wall.values())
    metrics = evaluate(model, splits.test, splits.num_classes, scale, cfg.eval.batch_size, env, session.device)
    run.log(f"{state['name']}: mIoU {metrics['miou'] * 100:.2f} % on the {cfg.data.test_split} split "
            f"at inference scale {scale}")
    if not run.main:
        return {}
    cpu_model = copy.deepcopy(model).cpu().eval()
    test_size = tuple(cfg.cost.input_size or splits.test_size)
    inference = inference_costs(cpu_model, test_size, scale, cfg.cost.targets)
    training = training_costs(cpu_model, splits.image_size, step_work(trainer.actions, trainer.batch_groups),
                              cfg.cost.targets, bn_work,
                              search=search_costs(cfg.model.family, splits.num_classes, cfg.model.space,
                                                  splits.image_size, search, cfg.cost.targets))
    # the full network trains on the whole budget (train.steps), and is recalibrated like every trained network
    full = full_network_reference(arch["family"], arch["num_classes"], arch.get("space"), test_size, splits.image_size,
                                  cfg.train.steps * cfg.data.batch_size, cfg.cost.targets,
                                  bn_images=bn_work[-1].images if cfg.train.recalibrate_bn else 0,
                                  batch=cfg.data.batch_size)
    arch["input"] = {**arch.get("input", {}), "native_size": list(test_size)}
    arch["cost"] = cost_block(inference, (1, 3, *test_size), COST_KEYS)
    arch["metrics"] = {"miou": metrics["miou"], "iou": metrics["iou"], "pixel_accuracy": metrics["pixel_accuracy"]}
    supernet.save_arch(arch, run.path / "arch.json")
    exported = save_derived(cpu_model, arch, run.path / "derived.pt", run.path / "derived.pt2",  # ONNX: the derived net only
                            path_onnx=run.path / "derived.onnx" if state["name"] == "derived" else None)
    for note in exported.notes:
        run.log(f"note: {note}")
    entry = run_entry(state["name"], metrics, inference, training, wall_s, inference_scale=scale,
                      search=state.get("search"), wall_phases=wall,
                      steps={**({"search": int(search["steps"])} if "steps" in search else {}), "train": trainer.step})
    report = build_report([entry], state.get("data_slimming"), session.config_dict(), splits.class_names,
                          family=arch["family"], arch="arch.json", full_network=full)
    run.write_json("report.json", report)
    write_report_files(run.path, report, arch)
    add_hparams(run.tb(), session.config_dict(), final_metrics(report), trainer.step)
    run.record("final", trainer.step, {"miou": metrics["miou"],
                                       **{f"{t}/inference_energy_j": inference[t]["energy_j"] for t in inference},
                                       **{f"{t}/training_energy_j": training[t]["energy_j"] for t in training}})
    run.log(f"wrote {run.path / 'report.md'}")
    return report
