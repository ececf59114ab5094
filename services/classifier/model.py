"""The numpy model and the repository of its versions on disk.

A small MLP: standardise the 8 features, one tanh hidden layer, softmax over 3 classes.
Versions are ``models/<version>.npz`` files written by
``python -m gameday_services.classifier.train``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gameday.errors import ValidationError
from gameday_services.classifier.dataset import CLASS_LABELS, N_FEATURES

MODELS_DIR = Path(__file__).resolve().parent / "models"
PARAMS = ("x_mean", "x_std", "w1", "b1", "w2", "b2")
CORRUPTION_SEED = 79


@dataclass(frozen=True)
class Classifier:
    """An MLP classifier; ``predict_proba`` maps (n x 8) features to (n x 3) probabilities."""

    version: str
    x_mean: np.ndarray
    x_std: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    labels: tuple[str, ...] = field(default=CLASS_LABELS)

    def logits(self, x: np.ndarray) -> np.ndarray:
        hidden = np.tanh(((x - self.x_mean) / self.x_std) @ self.w1 + self.b1)
        return hidden @ self.w2 + self.b2

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(np.asarray(x, dtype=np.float64).reshape(-1, N_FEATURES))
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.predict(x) == y).mean())

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in PARAMS)

    def params(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in PARAMS}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, labels=np.array(self.labels), **self.params())


def load_classifier(path: Path) -> Classifier:
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: np.array(data[name], dtype=np.float64) for name in PARAMS}
        labels = tuple(str(v) for v in data["labels"])
    return Classifier(version=path.stem, labels=labels, **arrays)


def corrupt(model: Classifier, seed: int = CORRUPTION_SEED) -> Classifier:
    """The same model with damaged weights, as from a bad checkpoint: answers stay
    well-formed probabilities, but many are wrong (the ``bad_model`` fault, mode degraded)."""
    rng = np.random.default_rng(seed)

    def damage(w: np.ndarray) -> np.ndarray:
        return w + rng.normal(0.0, 0.75 * float(w.std()) + 1e-12, size=w.shape)

    return replace(model, w1=damage(model.w1), w2=damage(model.w2), b2=damage(model.b2))


class ModelRepository:
    """The versions in a directory of ``<version>.npz`` files; loads are cached."""

    def __init__(self, root: Path = MODELS_DIR) -> None:
        self.root = Path(root)
        self._cache: dict[str, Classifier] = {}

    def versions(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.npz"))

    def validate_version(self, version: str, where: str = "version") -> str:
        """Return ``version`` if the repository has it, else raise naming the bad value."""
        known = self.versions()
        if version not in known:
            raise ValidationError(f"{where}: unknown model version {version!r}; "
                                  f"available: {', '.join(known) or '(none)'}")
        return version

    def load(self, version: str) -> Classifier:
        """Read a version from disk (validated first); kept in memory for the next time."""
        self.validate_version(version)
        if version not in self._cache:
            self._cache[version] = load_classifier(self.root / f"{version}.npz")
        return self._cache[version]
