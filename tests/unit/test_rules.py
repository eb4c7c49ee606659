"""Domain rules without a database: lateness, local days, tokens, channel authorisation."""
import datetime as dt

import pytest

from webapp.attendance.services import status_for
from webapp.branches.models import Branch
from realtime import channels, tokens

JAKARTA = Branch(code="JKT", name="Jakarta", timezone="Asia/Jakarta",
                 shift_start=dt.time(8, 0), grace_minutes=15)
BALI = Branch(code="DPS", name="Bali", timezone="Asia/Makassar",
              shift_start=dt.time(8, 0), grace_minutes=15)


def local(branch, text):
    return dt.datetime.fromisoformat(text).replace(tzinfo=branch.zone)


@pytest.mark.parametrize("text, expected", [
    ("2026-11-20T08:15:00", "present"), ("2026-11-20T08:15:01", "late"),
    ("2026-11-20T00:00:00", "present"), ("2026-11-20T23:59:59", "late"),
])
def test_late_after_start_plus_grace(text, expected):
    assert status_for(JAKARTA, local(JAKARTA, text)) == expected
    assert status_for(BALI, local(BALI, text)) == expected


def test_custom_shift_and_grace():
    branch = Branch(code="X", name="X", timezone="Asia/Jakarta", shift_start=dt.time(9, 30),
                    grace_minutes=0)
    assert status_for(branch, local(branch, "2026-11-20T09:30:00")) == "present"
    assert status_for(branch, local(branch, "2026-11-20T09:30:01")) == "late"


def test_local_date_per_branch():
    instant = dt.datetime(2026, 11, 20, 16, 30, tzinfo=dt.timezone.utc)
    assert JAKARTA.local_date(instant) == dt.date(2026, 11, 20)
    assert BALI.local_date(instant) == dt.date(2026, 11, 21)


def test_token_round_trip_and_expiry():
    token, expires = tokens.issue("s3cret", user_id=7, role="admin", ttl_seconds=60, now=1000)
    assert tokens.verify("s3cret", token, now=1059)["uid"] == 7
    with pytest.raises(tokens.InvalidToken):
        tokens.verify("s3cret", token, now=1061)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify("s3cret", token.replace(".", "x."), now=1000)
    for junk in [None, "", "a.b.c", "!!!.???", 5]:
        with pytest.raises(tokens.InvalidToken):
            tokens.verify("s3cret", junk, now=1000)


@pytest.mark.parametrize("role, channel, allowed", [
    ("employee", "user.7", True), ("employee", "user.8", False),
    ("employee", "attendances", False), ("employee", "servers", False),
    ("admin", "attendances", True), ("admin", "servers", True), ("admin", "user.8", True),
    ("admin", "user.x", False), ("admin", "other", False), ("admin", "user.07", False),
])
def test_channel_authorisation(role, channel, allowed):
    assert channels.may_subscribe(user_id=7, role=role, channel=channel) is allowed
