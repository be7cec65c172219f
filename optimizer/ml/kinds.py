"""The kinds of model `batchopt train` fits; no imports, so the CLI's help does not load scikit-learn."""

from __future__ import annotations

MODEL_KINDS = ("forecast", "usage", "interruptions")
