"""The growth scenario's pass/fail arithmetic (bench/growth.py)."""
import pytest

from bench.growth import growth_ratio, parse_sizes


def test_ratio_passes_up_to_linear_growth():
    assert growth_ratio(2.0, 20.0) == (10.0, True)
    assert growth_ratio(2.0, 21.0) == (10.5, False)


def test_missing_or_zero_cost_fails():
    assert growth_ratio(None, 5.0) == (None, False)
    assert growth_ratio(0.0, 5.0) == (None, False)


def test_sizes_must_be_two_increasing_numbers():
    assert parse_sizes("2000,20000") == (2000, 20000)
    for bad in ("2000", "20000,2000", "0,10", "1,2,3"):
        with pytest.raises(ValueError):
            parse_sizes(bad)
