"""search/interrupt.py: signals set the stop flag instead of killing the run."""
import os
import signal

from search.engine.interrupt import StopAfter, StopFlag, stop_on_signals


def test_sigterm_and_sigint_request_a_stop():
    for sig in (signal.SIGTERM, signal.SIGINT):
        with stop_on_signals() as flag:
            assert not flag.should_stop()
            os.kill(os.getpid(), sig)
            assert flag.should_stop()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored


def test_stop_after_n_polls():
    flag = StopAfter(2)
    assert [flag.should_stop() for _ in range(3)] == [False, True, True]
    assert not StopFlag().should_stop()
