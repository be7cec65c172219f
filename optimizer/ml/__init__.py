"""scikit-learn models: demand forecast per queue, usage quantiles for right-sizing, spot interruption
rates; and the registry that keeps trained models in `models/` with a JSON model card.

Model fitting and evaluation are pure (DataFrames in, models and metrics out); only `registry.py`
touches files, and only `optimizer.ml.training` reads the store.
"""
