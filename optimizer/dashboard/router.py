"""The app: page list, navigation and the chrome every page shares (nothing else lives here).

Pages are functions (`render()` in `optimizer/dashboard/pages/`), not files, so the installed package
serves them wherever it lives; `url_path` gives each a stable address (`/recommendations?id=...`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from sqlalchemy.engine import make_url

from optimizer.dashboard import state
from optimizer.dashboard.pages import (
    cost_explorer,
    fleet_mix,
    health,
    overview,
    recommendations,
    rightsizing,
    spot,
    what_if,
)
from optimizer.errors import ConfigError


@dataclass(frozen=True)
class PageSpec:
    render: Callable[[], None]
    title: str
    url_path: str
    icon: str


PAGES = (
    PageSpec(overview.render, "Overview", "overview", ":material/dashboard:"),
    PageSpec(cost_explorer.render, "Cost explorer", "cost-explorer", ":material/query_stats:"),
    PageSpec(rightsizing.render, "Right-sizing", "right-sizing", ":material/straighten:"),
    PageSpec(fleet_mix.render, "Fleet mix", "fleet-mix", ":material/dns:"),
    PageSpec(spot.render, "Spot", "spot", ":material/bolt:"),
    PageSpec(what_if.render, "What-if", "what-if", ":material/tune:"),
    PageSpec(recommendations.render, "Recommendations", "recommendations", ":material/recommend:"),
    PageSpec(health.render, "Runs and health", "health", ":material/monitor_heart:"),
)


def _store_label() -> str:
    """Backend and database name only: the URL may carry a password, which is never shown."""
    try:
        url = make_url(state.settings().store.database_url)
    except ConfigError:
        return "settings invalid"
    name = url.database or ""
    if url.get_backend_name() == "sqlite":
        name = name.rsplit("/", 1)[-1]
    return f"{url.get_backend_name()}: {name}"


def _chrome() -> None:
    with st.sidebar:
        st.caption(f"Store: {_store_label()}")
        if st.button("Refresh data", key="refresh_data", help="Drop cached query results"):
            st.cache_data.clear()


def run() -> None:
    st.set_page_config(page_title="Batch Optimizer", page_icon=":material/savings:", layout="wide")
    pages = [
        st.Page(spec.render, title=spec.title, url_path=spec.url_path, icon=spec.icon, default=i == 0)
        for i, spec in enumerate(PAGES)
    ]
    # Streamlit serves the default page at "/" only, so a shared `/overview` link would open "Page not
    # found": the first page also answers at its own path, hidden from the menu.
    first = PAGES[0]
    pages[0] = st.Page(first.render, title=first.title, url_path="home", icon=first.icon, default=True)
    pages.append(
        st.Page(
            first.render, title=first.title, url_path=first.url_path, icon=first.icon, visibility="hidden"
        )
    )
    navigation = st.navigation(pages)
    _chrome()
    navigation.run()
