"""Small UI pieces every page shares: the empty state, money and percent formats, the store guard."""

from __future__ import annotations

import math
from datetime import date, datetime

import streamlit as st

from optimizer.dashboard import state
from optimizer.errors import ConfigError
from optimizer.number_text import percent_text, usd_text
from optimizer.store.schema import COLLECTED_DATASET

CAPACITY_ORDER = {"capacity_type": ["ON_DEMAND", "SPOT"]}
"""`category_orders` for every chart coloured by capacity type: plotly colours categories in the
order it meets them, so a plan whose costliest type is spot drew spot in the colour the charts
beside it use for on-demand."""


def no_data(what: str, command: str) -> None:
    """The honest empty state: say what is missing and the command that produces it."""
    st.info(f"No data yet: {what}. Run `{command}` to produce it.", icon=":material/hourglass_empty:")


def partial_day_text(day: datetime, today: date) -> str:
    """How a page names the day it leaves out as partial (`queries.last_full_day`): today, or the
    last day the data reaches when the collection stopped before that day ended."""
    if day.date() >= today:
        return f"Today ({today:%Y-%m-%d})"
    return f"{day:%Y-%m-%d} (the data stops before its end)"


def money(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return usd_text(value)


def percent(value: float | None) -> str:
    """One decimal; a value that rounds to zero reads 0.0%, never -0.0% (an optimal plan's gap is
    float noise either side of 0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return percent_text(value)


def store_url() -> str | None:
    """The database URL of a readable store; otherwise shows why not and returns None."""
    try:
        url = state.settings().store.database_url
    except ConfigError as exc:  # one line per bad field, naming fields, never their values
        st.error(f"Settings are invalid: {exc}")
        return None
    problem = state.store_problem(url)
    if problem is not None:
        st.error(problem)
        return None
    return url


def history(url: str) -> str:
    """The job history whose costs a page shows: collected ("aws") unless the user picks a trace."""
    from optimizer.dashboard import queries

    names = queries.cost_datasets(url)
    if len(names) <= 1:
        return names[0] if names else COLLECTED_DATASET
    default = names.index(COLLECTED_DATASET) if COLLECTED_DATASET in names else 0
    return str(st.sidebar.selectbox("History", names, index=default, key="history"))
