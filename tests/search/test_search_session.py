"""The session: run directory, checkpoints, resume points, stops."""
import pytest

from search.config import Config
from search.engine.interrupt import Interrupted, StopFlag
from search.engine.session import Session
from search.errors import UserError


def test_a_taken_directory_needs_resume(tmp_path):
    s = Session.open(Config(), tmp_path / "run", resume=False, echo=False)
    s.save("search", 3, {"x": 1})
    s.run.close()
    with pytest.raises(UserError, match="--resume"):
        Session.open(Config(), tmp_path / "run", resume=False, echo=False)
    again = Session.open(Config(), tmp_path / "run", resume=True, echo=False)
    assert again.resume_point("search") == (3, {"x": 1})
    assert again.resume_point("retrain") == (0, None)


def test_a_stop_request_writes_a_checkpoint_then_raises(tmp_path):
    flag = StopFlag()
    s = Session.open(Config(), tmp_path / "run", resume=False, stop=flag, echo=False)
    s.step_done("search", 1, 10, lambda: {"step": 1})  # no stop: nothing raised
    flag.request()
    with pytest.raises(Interrupted, match="--resume"):
        s.step_done("search", 2, 10, lambda: {"step": 2})
    assert s.checkpoint()["step"] == 2 and s.checkpoint()["state"] == {"step": 2}
