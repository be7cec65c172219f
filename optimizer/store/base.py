"""The one MetaData every table module registers on, with a naming convention for stable migrations."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, MetaData, String, Text

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Short aliases so table modules read like a column list. Datetimes are naive UTC throughout.
Str = String(255)
LongStr = String(2048)
Arn = String(512)
Json = JSON()
Time = DateTime(timezone=False)
__all__ = ["Arn", "Boolean", "Float", "Integer", "Json", "LongStr", "Str", "Text", "Time", "metadata"]
