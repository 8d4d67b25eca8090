"""search/train/optim.py: the weights' optimizer and the learning-rate schedule, and where both phases use them."""
import pytest
import torch
import supernet

from search import config as config_module
from search.cosearch.cosearch import CoSearch
from search.data.splits import load_splits
from search.engine.session import Session
from search.train import optim
from search.train.optim import OPTIMIZERS, SCHEDULES, lr_factor, make_optimizer
from search.train.trainer import Trainer
from search_testing import tiny_config


def _toy_losses(kind: str, schedule: str, steps: int = 30) -> list[float]:
    """Least squares on a fixed random problem, ``steps`` steps of ``kind`` under ``schedule``."""
    gen = torch.Generator().manual_seed(0)
    x, w_true = torch.randn(64, 5, generator=gen), torch.randn(5, 1, generator=gen)
    y = x @ w_true
    model = torch.nn.Linear(5, 1)
    lr = 0.05 if kind == "sgd" else 0.1
    opt = make_optimizer(kind, model.parameters(), lr, momentum=0.9, weight_decay=1e-4, betas=(0.9, 0.999))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: lr_factor(t, steps, 3, schedule, 0.9))
    losses = []
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_every_optimizer_and_schedule_lowers_a_toy_loss(kind, schedule):
    losses = _toy_losses(kind, schedule)
    assert losses[-1] < 0.5 * losses[0]


def test_the_factory_builds_what_it_is_asked_for():
    w = [torch.nn.Parameter(torch.zeros(3))]
    sgd = make_optimizer("sgd", w, 0.1, momentum=0.8, weight_decay=0.01, nesterov=True)
    assert type(sgd) is torch.optim.SGD
    assert sgd.defaults["momentum"] == 0.8 and sgd.defaults["nesterov"] and sgd.defaults["weight_decay"] == 0.01
    adamw = make_optimizer("adamw", w, 0.001, momentum=0.8, weight_decay=0.05, betas=[0.8, 0.99])
    assert type(adamw) is torch.optim.AdamW
    assert adamw.defaults["betas"] == (0.8, 0.99) and adamw.defaults["weight_decay"] == 0.05
    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        make_optimizer("adam", w, 0.1)
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        lr_factor(5, 10, 2, "step")


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedules_warm_up_linearly_then_decay_to_zero_at_the_last_step(schedule):
    total, warmup = 20, 4
    f = [lr_factor(t, total, warmup, schedule, 0.9) for t in range(total)]
    assert f[:warmup] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert f[warmup] == 1.0 and f[-1] == 0.0
    assert all(a >= b for a, b in zip(f[warmup:], f[warmup + 1:]))   # never rises after the warm-up
    assert lr_factor(total + 5, total, warmup, schedule) == 0.0      # stays at 0 past the end


def test_poly_is_the_deeplab_formula():
    total, warmup, power = 11, 0, 0.9
    for t in range(total):
        assert lr_factor(t, total, warmup, "poly", power) == pytest.approx((1 - t / (total - 1)) ** power)
    assert [lr_factor(t, 5, 0, "poly", 1.0) for t in range(5)] == pytest.approx([1, 0.75, 0.5, 0.25, 0])
    assert lr_factor(3, 10, 0, "poly", 2.0) < lr_factor(3, 10, 0, "poly", 0.5)


def test_no_warm_up_and_one_step_runs():
    assert lr_factor(0, 10, 0) == 1.0 and lr_factor(0, 1, 0, "poly") == 1.0


def test_the_config_and_the_factory_agree_on_the_names():
    assert config_module.OPTIMIZERS == optim.OPTIMIZERS
    assert config_module.TrainConfig().schedule in SCHEDULES
    cfg = config_module.Config()
    assert (cfg.train.optimizer, cfg.search.w_optimizer, cfg.train.schedule) == ("sgd", "sgd", "cosine")


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("optim")
    cfg = tiny_config(tmp / "cache")
    return load_splits(cfg.data, features=True), tmp


def test_both_phases_build_their_optimizer_from_the_config(parts):
    splits, tmp = parts
    cfg = tiny_config(tmp / "cache", "search.w_optimizer=adamw", "search.w_betas=[0.8, 0.9]", "search.w_lr=0.002",
                      "train.optimizer=adamw", "train.betas=[0.7, 0.9]", "train.schedule=poly",
                      "train.poly_power=2", "train.warmup_steps=0", "train.steps=3")
    cs = CoSearch(cfg, splits, Session.open(cfg, tmp / "cs", resume=False, echo=False))
    assert type(cs.w_opt) is torch.optim.AdamW and cs.w_opt.defaults["betas"] == (0.8, 0.9)
    model = supernet.build_from_arch(supernet.baseline_arch(cfg.model.family, cfg.data.num_classes, width_mult=0.25))
    trainer = Trainer(model, cfg, splits, Session.open(cfg, tmp / "tr", resume=False, echo=False))
    assert type(trainer.opt) is torch.optim.AdamW and trainer.opt.defaults["betas"] == (0.7, 0.9)
    lrs = []
    for t in range(3):
        trainer.run_step(t)
        lrs.append(trainer.opt.param_groups[0]["lr"])
    assert lrs == pytest.approx([cfg.train.lr * 0.25, 0.0, 0.0])   # (1 - progress) ** 2 after steps 0, 1, 2
    default = tiny_config(tmp / "cache")
    cs = CoSearch(default, splits, Session.open(default, tmp / "cs0", resume=False, echo=False))
    assert type(cs.w_opt) is torch.optim.SGD and cs.w_opt.defaults["momentum"] == 0.9
    assert not cs.w_opt.defaults["nesterov"]
