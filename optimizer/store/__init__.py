"""The store: SQLAlchemy 2 Core schema, Alembic migrations, bulk upserts and DataFrame reads.

SQLite (WAL) by default, PostgreSQL through the URL. Table definitions live in `tables/`, one module
per area, all on the one `metadata` of `base.py`; `schema.py` imports them all.
"""
