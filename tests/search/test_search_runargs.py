"""Run arguments: the config file, overrides, --out and --resume."""
import argparse

import pytest

from search.cli.runargs import add_run_arguments, resolve_run, split_config_args
from search.errors import UserError


def _args(*argv):
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return parser.parse_intermixed_args(list(argv))


def test_config_and_overrides_are_told_apart():
    assert split_config_args(["a.yaml", "x.y=1", "z=2"]) == ("a.yaml", ["x.y=1", "z=2"])
    with pytest.raises(UserError, match="one config file"):
        split_config_args(["a.yaml", "b.yaml"])


def test_resume_needs_out():
    with pytest.raises(UserError, match="--out"):
        resolve_run(_args("--resume"))


def test_overrides_reach_the_config(tmp_path):
    cfg, out = resolve_run(_args("search.lambda_inf=0.25", "--out", str(tmp_path / "r")))
    assert cfg.search.lambda_inf == 0.25 and out == tmp_path / "r"
