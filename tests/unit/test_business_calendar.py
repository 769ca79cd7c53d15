from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hub.business_calendar import add_business_days

BERLIN = ZoneInfo("Europe/Berlin")


def test_weekdays_only() -> None:
    thursday = datetime(2026, 3, 5, 14, 30, tzinfo=BERLIN)
    assert add_business_days(thursday, 2, "Europe/Berlin") == datetime(
        2026, 3, 9, 14, 30, tzinfo=BERLIN
    )


def test_holidays_are_skipped() -> None:
    before_easter = datetime(2026, 4, 2, 9, 0, tzinfo=BERLIN)  # Thursday; Good Friday 3 Apr
    holidays = frozenset({date(2026, 4, 3), date(2026, 4, 6)})
    assert add_business_days(before_easter, 1, "Europe/Berlin", holidays).date() == date(2026, 4, 7)


def test_weekend_start_counts_from_next_working_day() -> None:
    saturday = datetime(2026, 3, 7, 11, 0, tzinfo=BERLIN)
    due = add_business_days(saturday, 2, "Europe/Berlin")
    assert due == datetime(2026, 3, 11, 0, 0, tzinfo=BERLIN)


def test_dst_change_keeps_local_time_and_new_offset() -> None:
    friday = datetime(2026, 3, 27, 10, 0, tzinfo=BERLIN)  # DST starts Sunday 29 March
    due = add_business_days(friday, 1, "Europe/Berlin")
    assert due.astimezone(BERLIN).hour == 10
    assert due.utcoffset() == timedelta(hours=2)


def test_input_in_another_zone_is_converted_first() -> None:
    # Friday 23:30 in New York is Saturday 05:30 in Berlin: counts from Monday
    new_york = datetime(2026, 3, 6, 23, 30, tzinfo=ZoneInfo("America/New_York"))
    assert add_business_days(new_york, 1, "Europe/Berlin") == datetime(
        2026, 3, 10, 0, 0, tzinfo=BERLIN
    )
