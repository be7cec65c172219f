"""The model registry: each trained model is `models/<name>.joblib` plus `models/<name>.json`, its card.

A card records what a reader needs to trust or reject the model: when and on what window it was
trained, its features and target, its evaluation metrics, and the library versions that pickled it.
A joblib pickle is only safe to load with the scikit-learn (and numpy major) version that wrote it,
so `load` refuses any other with a clear message and `load_or_train` retrains instead.

Writes are atomic (temporary file, then rename), card last: a reader never sees a card whose model
is missing or half written.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy
import pandas
import sklearn

from optimizer.errors import UserError

log = logging.getLogger(__name__)
DEFAULT_MODELS_DIR = Path("models")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


class IncompatibleModelError(UserError):
    """The stored model was written by library versions this installation cannot safely load."""


class ModelNotFoundError(UserError):
    """No model of that name has been trained yet."""


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "joblib": joblib.__version__,
        "pandas": pandas.__version__,
    }


def _major_minor(version: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", version)[:2]
    return tuple(int(p) for p in parts)


def incompatibilities(stored: dict[str, str], current: dict[str, str] | None = None) -> list[str]:
    """Why a model written with `stored` versions cannot be loaded now (empty list: it can).

    scikit-learn must match major.minor (its pickles are not portable across minor releases);
    numpy must match major (2.x pickles do not load on 1.x and vice versa).
    """
    current = current or library_versions()
    problems = []
    sk_old, sk_new = stored.get("scikit-learn", "?"), current["scikit-learn"]
    if _major_minor(sk_old) != _major_minor(sk_new):
        problems.append(f"scikit-learn {sk_old} (this installation has {sk_new})")
    np_old, np_new = stored.get("numpy", "?"), current["numpy"]
    if _major_minor(np_old)[:1] != _major_minor(np_new)[:1]:
        problems.append(f"numpy {np_old} (this installation has {np_new})")
    return problems


@dataclass
class ModelCard:
    name: str
    kind: str  # demand-forecast | usage-quantile | interruption-rate
    trained_at: str  # ISO UTC
    training_window: dict[str, str | None]  # {"start": iso, "end": iso}
    features: list[str]
    target: str
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # dataset, rows, queues ...
    library_versions: dict[str, str] = field(default_factory=library_versions)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelCard:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class ModelRegistry:
    """Models of one folder (default `./models`)."""

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_MODELS_DIR) -> None:
        self.root = Path(root)

    def _paths(self, name: str) -> tuple[Path, Path]:
        if not _NAME.match(name):
            raise UserError(f"model name {name!r}: use letters, digits, '.', '_' or '-'")
        return self.root / f"{name}.joblib", self.root / f"{name}.json"

    def save(self, model: Any, card: ModelCard) -> Path:
        """Write the model then its card, each atomically; returns the model's path."""
        model_path, card_path = self._paths(card.name)
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write(model_path, lambda f: joblib.dump(model, f, compress=3))
        payload = json.dumps(card.to_json(), indent=2, sort_keys=True, default=str).encode()
        _atomic_write(card_path, lambda f: f.write(payload))
        return model_path

    def card(self, name: str) -> ModelCard:
        _, card_path = self._paths(name)
        if not card_path.is_file():
            raise ModelNotFoundError(
                f"model {name}: not trained yet ({card_path} missing): run `batchopt train`"
            )
        try:
            return ModelCard.from_json(json.loads(card_path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError) as exc:
            raise IncompatibleModelError(f"model card {card_path}: unreadable ({exc}): retrain") from None

    def load(self, name: str) -> tuple[Any, ModelCard]:
        """The model and its card; refuses a model written by incompatible library versions."""
        card = self.card(name)
        problems = incompatibilities(card.library_versions)
        model_path, _ = self._paths(name)
        if problems:
            raise IncompatibleModelError(
                f"model {name} ({model_path}) was written by {'; '.join(problems)}: "
                "it cannot be loaded safely, retrain it with `batchopt train`"
            )
        if not model_path.is_file():
            raise ModelNotFoundError(f"model {name}: card present but {model_path} missing: retrain")
        return joblib.load(model_path), card

    def load_or_train(self, name: str, train: Callable[[], tuple[Any, ModelCard]]) -> tuple[Any, ModelCard]:
        """Load `name`; when it is missing or incompatible, say why, train it again and save it."""
        try:
            return self.load(name)
        except (ModelNotFoundError, IncompatibleModelError) as exc:
            log.warning("retraining model %s: %s", name, exc)
        model, card = train()
        self.save(model, card)
        return model, card

    def list(self) -> list[ModelCard]:
        if not self.root.is_dir():
            return []
        return [self.card(p.stem) for p in sorted(self.root.glob("*.json"))]


def _atomic_write(path: Path, write: Callable[[Any], Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
