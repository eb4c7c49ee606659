"""Shared input checks: a required text needs something a person can read."""
import pytest

from webapp import validation as v


@pytest.mark.parametrize("raw", ["", "   ", "\u0007", "\t\u0000\n", None, 5])
def test_a_required_text_of_nothing_readable_is_refused(raw):
    errors = {}
    assert v.required_text(raw, "reason", errors) is None
    assert errors == {"reason": "Wajib diisi."}


def test_a_required_text_is_stripped():
    errors = {}
    assert v.required_text("  lupa absen  ", "reason", errors) == "lupa absen"
    assert errors == {}
