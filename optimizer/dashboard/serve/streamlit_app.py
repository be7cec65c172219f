"""The script `batchopt dashboard` hands to `streamlit run` (packaged, so a wheel can serve it)."""

from optimizer.dashboard.router import run

run()
