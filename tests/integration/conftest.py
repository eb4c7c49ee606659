"""Fixtures shared by the integration tests of the realtime pipeline, and the MySQL driver."""
import sys

import pytest

from tests.realtime_helpers import Stack


@pytest.fixture()
def make_stack(db_url, redis_server, redis_client, app, tmp_path):
    """``make_stack(database_url=None, redis_url=None)`` -> a :class:`Stack` torn down
    after the test (gateways, workers, schedulers and sockets all stopped)."""
    stacks = []

    def make(database_url=None, redis_url=None):
        stack = Stack(database_url=database_url or db_url,
                      redis_url=redis_url or redis_server.url,
                      secret=app.app.registry.settings["app.secret_key"],
                      workdir=tmp_path / f"stack{len(stacks)}")
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()


@pytest.fixture()
def stack(make_stack):
    return make_stack()


@pytest.fixture(params=["mysqldb", "pymysql"])
def mysql_driver(request, monkeypatch):
    """Runs a test with the C driver (mysqlclient) and with the PyMySQL fallback: the
    engines the test makes after this fixture use that driver (webapp.db.mysql_driver)."""
    if request.param == "pymysql":
        monkeypatch.setitem(sys.modules, "MySQLdb", None)  # as if mysqlclient were absent
    return request.param
