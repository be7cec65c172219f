"""The Streamlit dashboard: thin pages over cached, read-only store queries (never AWS).

`router.run()` is the whole app; `serve/streamlit_app.py` is the file `streamlit run` serves, so an
installed wheel can start the dashboard without the repository's top-level `app.py`.
"""
