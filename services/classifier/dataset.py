"""The classifier's data: a fixed class-conditional Gaussian distribution, sampled per entity.

Three risk classes (``low``, ``medium``, ``high``), eight float features ``f0``..``f7``.
Each class is a Gaussian with its own mean and covariance; the parameters are drawn once
from ``DISTRIBUTION_SEED`` and never change, so the training set, the feature store's
entities and any test data all come from the same world.

``make_entity(i, seed)`` is the one sampling function, deterministic per ``(seed, i)``
on any machine:

- the training set is ``make_dataset(DATASET_ROWS, seed=TRAIN_SEED)`` (seed 1), written to
  ``data/dataset.csv`` by ``python -m gameday_services.classifier.train``;
- the feature store seeds its entities with ``make_entity(i)`` (seed 0, the default): fresh
  draws from the same distribution, unseen in training, whose true label is known, so canary
  requests can carry ``"label"`` and the classifier can count correct/incorrect answers.

Example (what gameday_services.features does)::

    from gameday_services.classifier.dataset import make_entity
    features, label = make_entity(42)      # 8 floats (rounded to 4 decimals), class in 0..2
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

N_FEATURES = 8
FEATURE_NAMES = tuple(f"f{i}" for i in range(N_FEATURES))
CLASS_LABELS = ("low", "medium", "high")
N_CLASSES = len(CLASS_LABELS)

DISTRIBUTION_SEED = 20240611
TRAIN_SEED = 1
SERVING_SEED = 0
DATASET_ROWS = 3000
DECIMALS = 4

# How far apart the class means are, relative to the within-class spread. Tuned so a small
# MLP reaches about 0.9 held-out accuracy: good, but not so perfect that errors are rare.
MEAN_SPREAD = 0.9


@lru_cache(maxsize=1)
def class_parameters() -> tuple[np.ndarray, np.ndarray]:
    """Means (classes x features) and linear maps (classes x features x features) of the
    class-conditional Gaussians: ``x = mean[k] + maps[k] @ z`` with ``z ~ N(0, I)``."""
    rng = np.random.default_rng(DISTRIBUTION_SEED)
    means = rng.normal(0.0, MEAN_SPREAD, size=(N_CLASSES, N_FEATURES))
    maps = np.empty((N_CLASSES, N_FEATURES, N_FEATURES))
    for k in range(N_CLASSES):
        q, _ = np.linalg.qr(rng.normal(size=(N_FEATURES, N_FEATURES)))
        scales = rng.uniform(0.5, 1.3, size=N_FEATURES)
        maps[k] = q * scales  # rotate independently scaled axes: a correlated Gaussian
    return means, maps


def make_entity(entity_index: int, seed: int = SERVING_SEED) -> tuple[list[float], int]:
    """Features and true class of entity ``entity_index``: the same on every call and machine.

    ``seed`` selects an independent population: 0 (default) for serving (the feature store),
    ``TRAIN_SEED`` for the training set. Returns 8 floats rounded to 4 decimals (exactly what
    ``data/dataset.csv`` holds) and a class index into ``CLASS_LABELS``.
    """
    if entity_index < 0 or seed < 0:
        raise ValueError(f"entity_index and seed must be >= 0, got {entity_index}, {seed}")
    means, maps = class_parameters()
    rng = np.random.default_rng([seed, entity_index])
    label = int(rng.integers(N_CLASSES))
    x = means[label] + maps[label] @ rng.standard_normal(N_FEATURES)
    return [round(float(v), DECIMALS) for v in x], label


def make_dataset(rows: int = DATASET_ROWS, seed: int = TRAIN_SEED) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` entities as a feature matrix (rows x 8) and a label vector."""
    pairs = [make_entity(i, seed) for i in range(rows)]
    x = np.array([p[0] for p in pairs], dtype=np.float64).reshape(rows, N_FEATURES)
    y = np.array([p[1] for p in pairs], dtype=np.int64)
    return x, y


def split(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.25):
    """Deterministic held-out split: the last ``test_fraction`` of the rows are the test set."""
    cut = int(round(len(y) * (1.0 - test_fraction)))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
