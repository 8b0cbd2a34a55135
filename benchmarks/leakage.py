"""Can labels be predicted from artifacts? A classifier on event ids, row positions and sub-second time.

If it can (ROC AUC well above 0.5), the dataset gives misuse away by how it is written rather than by
what anyone did. Misuse comes in bursts and at its own hours, so any feature that rises with time (an event id, a
row's position) would let a model find it by *when* it happened: that is behaviour, not an
artifact. So each labelled event is compared with unlabelled events logged around the same moment
(its neighbours in the log), and cross-validation holds out whole days.
``python -m snoopbench.benchmarks.leakage DATASET`` prints the AUC.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def artifact_features(dataset: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features that must carry no information (ids, positions, sub-second time), and the labels."""
    parts = sorted((dataset / "events").glob("part-*.parquet"))
    tables = [pq.read_table(p, columns=["event_id", "ts"]) for p in parts]
    sizes = np.array([t.num_rows for t in tables])
    event_id = np.concatenate([t["event_id"].to_numpy() for t in tables])
    ts = np.concatenate([t["ts"].cast(pa.int64()).to_numpy() for t in tables])
    labels = pq.read_table(dataset / "truth" / "labels.parquet")
    y = np.zeros(len(event_id), bool)
    y[np.searchsorted(event_id, labels["event_id"].to_numpy())] = True
    part_of = np.repeat(np.arange(len(parts)), sizes)
    pos = np.arange(len(event_id)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    X = np.column_stack([event_id, event_id % 2, ts % 1000, (ts // 1000) % 60, pos, part_of,
                         pos / sizes[part_of]])
    return X, y, ts


def leakage_auc(dataset: str | Path, negatives_per_label: int = 20, seed: int = 0) -> float:
    """Cross-validated ROC AUC of a gradient-boosted classifier on a dataset's artifact features."""
    return artifact_auc(*artifact_features(Path(dataset)), negatives_per_label=negatives_per_label, seed=seed)


def artifact_auc(X: np.ndarray, y: np.ndarray, ts: np.ndarray, negatives_per_label: int = 20,
                 seed: int = 0) -> float:
    """ROC AUC of predicting ``y`` from ``X``, labelled rows against their neighbours in time."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict

    if not y.any():
        raise ValueError("no labelled events")
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(y)
    near = pos[:, None] + rng.integers(-500, 501, size=(len(pos), negatives_per_label))
    near = np.unique(np.clip(near, 0, len(y) - 1))
    neg = near[~y[near]]
    idx = np.concatenate([pos, neg])
    model = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    days = ts[idx] // 86_400_000
    folds = GroupKFold(n_splits=min(5, len(np.unique(days))))
    p = cross_val_predict(model, X[idx], y[idx], groups=days, cv=folds,
                          method="predict_proba")[:, 1]
    return float(roc_auc_score(y[idx], p))


if __name__ == "__main__":
    print(f"leakage ROC AUC: {leakage_auc(sys.argv[1]):.3f}")
