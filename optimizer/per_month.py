"""What "per month" means on every dollar figure the product shows: 30 days.

Replay savings, the model's calibration error, realized savings and the demo's plan savings were
scaled to 30 days, and the commitment advice to 730 hours, so in one "/month" column the advice
read 1.4 % higher than on its neighbours' basis (the demo's $2,989.99 against $2,949.03). One
constant now: a figure per month is its daily pace times `DAYS_PER_MONTH`, an hourly one times
`HOURS_PER_MONTH`. (The Spot Advisor's monthly interruption frequencies are AWS's own unit and are
read with their own month, `catalog.interruptions`.)
"""

from __future__ import annotations

#: Days in the month every "/month" dollar figure is scaled to.
DAYS_PER_MONTH = 30.0
#: The same month in hours.
HOURS_PER_MONTH = 24.0 * DAYS_PER_MONTH
