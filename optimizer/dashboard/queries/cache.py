"""How long a page keeps a read: `cached` is `st.cache_data` with `TTL_SECONDS`.

Every cached read takes the database URL first so the cache keys on it (two stores never share a
cached answer): the collectors write in the background and a page should show their work within a
minute, not hammer the store on each widget click.
"""

from __future__ import annotations

import streamlit as st

TTL_SECONDS = 60
cached = st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
