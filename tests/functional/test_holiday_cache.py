"""A check-in reads the holidays from its node's cache (webapp.holidays.cache): a holiday an
admin adds or removes through another node counts from the next check-in on."""
from tests.functional.shift_helpers import check_in, person


def shift_of(answer):
    shift = answer["attendance"]["shift"]
    return shift and shift["code"]


def test_a_holiday_changed_on_another_node_counts_at_the_next_check_in(make_app, factory):
    # Given an employee whose node read the holidays at Thursday's check-in
    employee = person(make_app, factory, name="Budi")
    assert shift_of(check_in(employee, "2026-11-19T07:55:00+07:00")) == "JKT-REG"
    # When an admin on another node makes Friday a Jakarta holiday and Monday a national one
    admin = person(make_app, factory, "admin")
    admin.post_json("/api/holidays", {"date": "2026-11-20", "name": "Libur kantor",
                                      "branch": "JKT"}, status=201)
    monday = admin.post_json("/api/holidays", {"date": "2026-11-23", "name": "Libur"},
                             status=201).json
    # Then Friday's check-in belongs to no shift: the day is off
    assert shift_of(check_in(employee, "2026-11-20T07:55:00+07:00")) is None
    # and once Monday's holiday is deleted again, Monday is a regular work day
    admin.delete(f"/api/holidays/{monday['id']}", status=204)
    assert shift_of(check_in(employee, "2026-11-23T07:55:00+07:00")) == "JKT-REG"
