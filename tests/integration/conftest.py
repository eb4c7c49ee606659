"""Fixtures shared by the integration tests of the realtime pipeline."""
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
