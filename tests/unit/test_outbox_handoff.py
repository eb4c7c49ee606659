"""Committed outbox events are handed to the publisher queue once, after the real commit."""
import pytest
import transaction
from sqlalchemy import text

from webapp.db import get_tm_session, join_request_transactions
from webapp.events import services


@pytest.fixture()
def enqueued(session_factory):
    calls = []
    join_request_transactions(session_factory)  # as webapp.db's includeme does
    services.install(session_factory, calls.append)
    return calls


def hold(dbsession, event_id):
    dbsession.execute(text("SELECT 1"))  # a transaction is open, as in a request
    services._hold_until_commit(dbsession, event_id)
    with dbsession.begin_nested():  # and a SAVEPOINT is released after it
        dbsession.execute(text("SELECT 2"))


def request_transaction(session_factory):
    """A transaction manager and a session joined to it, as pyramid_tm gives a request."""
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    return manager, get_tm_session(session_factory, manager)


def test_a_request_hands_events_over_only_after_the_transaction_manager_committed(
        session_factory, enqueued):
    # Given a request's session holding event 1, and a SAVEPOINT released after it
    manager, dbsession = request_transaction(session_factory)
    hold(dbsession, 1)

    # Then nothing is enqueued yet (SQLAlchemy's after_commit fired for the SAVEPOINT)
    assert enqueued == []

    # When the request's transaction commits, it is enqueued, once
    manager.commit()
    assert enqueued == [1]


def test_an_aborted_request_enqueues_nothing(session_factory, enqueued):
    manager, dbsession = request_transaction(session_factory)
    hold(dbsession, 1)
    manager.abort()
    assert enqueued == []


def test_plain_sessions_hand_over_at_their_outermost_commit(session_factory, enqueued):
    # Given a job's own session (no transaction manager) holding event 2
    with session_factory() as dbsession:
        hold(dbsession, 2)
        # Then a released SAVEPOINT is not the commit
        assert enqueued == []
        dbsession.commit()
    assert enqueued == [2]
