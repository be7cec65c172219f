"""Streamlit entry for `streamlit run app.py` from a checkout: it only routes (see optimizer.dashboard)."""

from optimizer.dashboard.router import run

run()
