"""The Streamlit dashboard: thin pages over cached, read-only store queries (never AWS).

`router.run()` is the whole app; `entry.py` is the file `streamlit run` serves, so an installed wheel
can start the dashboard without the repository's top-level `app.py`.
"""
