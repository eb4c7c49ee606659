"""At start the gateway lifts its open files limit to the hard one, and says when even
that cannot hold ``gateway.max_connections`` sockets."""
import logging
import resource

import pytest

from wsgate import app


@pytest.fixture()
def limits(monkeypatch):
    """A fake RLIMIT_NOFILE: ``limits["now"] = (soft, hard)``; setrlimit changes it."""
    state = {"now": (1024, 4096), "set": []}

    def getrlimit(which):
        assert which == resource.RLIMIT_NOFILE
        return state["now"]

    def setrlimit(which, value):
        soft, hard = value
        if soft > state["now"][1]:
            raise ValueError("not allowed to raise the maximum limit")
        state["set"].append(value)
        state["now"] = value

    monkeypatch.setattr(app.resource, "getrlimit", getrlimit)
    monkeypatch.setattr(app.resource, "setrlimit", setrlimit)
    return state


def test_the_soft_limit_goes_up_to_the_hard_one_and_is_logged(limits, caplog):
    limits["now"] = (1024, 20000)
    with caplog.at_level(logging.INFO, logger="wsgate.app"):
        assert app.raise_open_files_limit(10000) == 20000
    assert limits["set"] == [(20000, 20000)]
    assert "open files limit 20000 (was 1024, hard limit 20000)" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_hard_limit_too_low_for_max_connections_is_warned_about(limits, caplog):
    limits["now"] = (1024, 4096)
    with caplog.at_level(logging.INFO, logger="wsgate.app"):
        assert app.raise_open_files_limit(10000) == 4096
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "too low for gateway.max_connections = 10000" in warning.getMessage()
    assert "LimitNOFILE" in warning.getMessage()


def test_an_unlimited_hard_limit_still_gets_a_finite_soft_one(limits, monkeypatch):
    limits["now"] = (1024, resource.RLIM_INFINITY)

    def setrlimit(which, value):
        limits["set"].append(value)
        limits["now"] = value

    monkeypatch.setattr(app.resource, "setrlimit", setrlimit)
    assert app.raise_open_files_limit(10000) == 1 << 20
    assert limits["set"] == [(1 << 20, resource.RLIM_INFINITY)]
