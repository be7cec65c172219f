"""ISO weeks: parsing `2026-W47`, and which week is the last complete one at a given moment.

Costs are booked per UTC day by the analysis layer, so a report week is seven UTC days from Monday
00:00 UTC; the configured time zone only decides *when* a week counts as complete (a Monday 08:00
run in Sydney must not report a week that is still running in UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from optimizer.errors import ConfigError, InputError

_WEEK_RE = re.compile(r"^(\d{4})-?W(\d{2})$")


@dataclass(frozen=True, order=True)
class IsoWeek:
    """One ISO week; `start` and `end` are naive-UTC midnights, `end` exclusive."""

    year: int
    week: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.monday, datetime.min.time())

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    def days(self) -> list[date]:
        return [self.monday + timedelta(days=i) for i in range(7)]

    def shifted(self, weeks: int) -> IsoWeek:
        """The week `weeks` weeks later (negative: earlier)."""
        return IsoWeek.containing(self.monday + timedelta(weeks=weeks))

    @staticmethod
    def containing(day: date) -> IsoWeek:
        iso = day.isocalendar()
        return IsoWeek(iso.year, iso.week)


def parse_week(text: str) -> IsoWeek:
    """`2026-W47` (or `2026W47`) -> IsoWeek; anything else is an InputError naming the value."""
    match = _WEEK_RE.match(text.strip())
    if not match:
        raise InputError(f"--week {text!r}: expected an ISO week such as 2026-W47")
    year, week = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise InputError(f"--week {text!r}: {year} has no ISO week {week}") from None
    return IsoWeek(year, week)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"report.timezone: unknown time zone {name!r}") from None


def last_complete_week(now: datetime, timezone: str = "UTC") -> IsoWeek:
    """The latest week whose Sunday has ended both in UTC and in `timezone` at `now`.

    `now` must be timezone-aware (the caller reads the clock; this module does not).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local_today = now.astimezone(zone(timezone)).date()
    utc_today = now.astimezone(UTC).date()
    current = IsoWeek.containing(min(local_today, utc_today))
    return current.shifted(-1)
