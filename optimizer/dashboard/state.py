"""Where the dashboard's settings and store come from, resolved once per rerun.

Settings are loaded from the environment / `$BATCHOPT_CONFIG` exactly as the CLI does; the engine is
a cached resource keyed by the database URL so every query function can be keyed by that URL too.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from optimizer.config import Settings, load_settings
from optimizer.errors import UserError
from optimizer.store.engine import create_store_engine, require_current_schema


def settings() -> Settings:
    """The settings for this rerun (cheap to load; reloaded so a config edit needs no restart)."""
    return load_settings()


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> Engine:
    """One pooled engine per database URL for the life of the server process."""
    return create_store_engine(url)


def store_problem(url: str) -> str | None:
    """Why the store cannot be read (one line), or None when it is migrated and readable."""
    try:
        require_current_schema(engine_for(url))
    except UserError as exc:
        return str(exc)
    return None
