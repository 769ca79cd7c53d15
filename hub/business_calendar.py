"""Deadlines in a lane's calendar: business days in a named time zone, with holidays.

Pure functions. A deadline of N business days from a moment is the same local time of day
N working days later (Saturday, Sunday and listed holidays skipped) in the SLA's zone,
returned as an aware datetime in that zone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def is_business_day(day: date, holidays: frozenset[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_business_days(
    start: datetime, days: int, time_zone: str, holidays: frozenset[date] = frozenset()
) -> datetime:
    """``start`` plus ``days`` working days in ``time_zone``.

    A start on a non-working day counts from the next working day's start of day, as
    contracts read it: a parcel cleared on Saturday with "2 business days" is due at the
    end of Tuesday, i.e. Wednesday 00:00.
    """
    zone = ZoneInfo(time_zone)
    local = start.astimezone(zone)
    if not is_business_day(local.date(), holidays):
        day = local.date()
        while not is_business_day(day, holidays):
            day += timedelta(days=1)
        local = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    day = local.date()
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_business_day(day, holidays):
            remaining -= 1
    # same wall-clock time on the due day, in that day's UTC offset (DST-aware)
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone)
