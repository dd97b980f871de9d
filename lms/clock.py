"""Time in one place: services take `now` explicitly; this is where the real one comes from."""
from datetime import date, datetime, time, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app


LATEST_DATE = date(2099, 12, 31)  # later dates are typing mistakes, and overflow date arithmetic


def utcnow():
    return datetime.now(timezone.utc)


def platform_timezone():
    return _zone(current_app.config["LMS_TIMEZONE"])


@lru_cache(maxsize=16)
def _zone(name):
    """One ZoneInfo per name: a page formats thousands of dates, and each lookup costs."""
    return ZoneInfo(name)


def platform_today(now):
    """The calendar date in the platform's time zone at the instant `now`."""
    return now.astimezone(platform_timezone()).date()


def start_of_day(day: date):
    """The UTC instant at which `day` begins in the platform's time zone."""
    return datetime.combine(day, time.min, tzinfo=platform_timezone()).astimezone(timezone.utc)
