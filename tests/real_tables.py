"""Real tables for the command line's end-to-end tests and benchmarks/cli_defaults.py: statsmodels' and
scikit-learn's bundled data sets (no download), each as a pandas DataFrame with the target named, and
the same tables made messy the way files are (a text column, a categorical column, missing cells),
plus the scikit-learn pipeline that `fastmlp train`'s defaults are measured against.

Each table: (name, DataFrame, target column, task, loss) where task is "regress" or "classify".
"""

from __future__ import annotations

import numpy as np

SKLEARN_HIDDEN = (64, 64)


def _statsmodels(name):
    import statsmodels.api as sm

    return getattr(sm.datasets, name).load_pandas().data.copy()


def tables(rows=None, seed=0):
    """The clean tables; `rows` keeps at most that many rows of each (a seeded choice)."""
    import pandas as pd
    from sklearn import datasets

    rng = np.random.default_rng(seed)
    out = []
    fair = _statsmodels("fair")
    out.append(("fair", fair, "affairs", "regress", "mse"))
    # The same survey as a yes/no question: text labels.
    cheated = fair.drop(columns=["affairs"]).assign(had_affair=np.where(fair["affairs"] > 0, "yes", "no"))
    out.append(("fair-classify", cheated, "had_affair", "classify", None))
    out.append(("randhie", _statsmodels("randhie"), "mdvis", "regress", "poisson"))
    star = _statsmodels("star98")
    star["pct_above"] = star["NABOVE"] / (star["NABOVE"] + star["NBELOW"])
    star = star.drop(columns=["NABOVE", "NBELOW"])
    out.append(("star98", star, "pct_above", "regress", "mse"))
    d = datasets.load_diabetes(as_frame=True).frame
    out.append(("diabetes", d, "target", "regress", "mse"))
    b = datasets.load_breast_cancer(as_frame=True)
    frame = b.frame.copy()
    frame["target"] = np.asarray(b.target_names)[b.target]  # "malignant" / "benign"
    out.append(("breast_cancer", frame, "target", "classify", None))
    w = datasets.load_wine(as_frame=True).frame
    out.append(("wine", w, "target", "classify", None))
    if rows is not None:
        out = [
            (
                n,
                f.iloc[np.sort(rng.permutation(len(f))[:rows])].reset_index(drop=True) if len(f) > rows else f,
                t,
                task,
                loss,
            )
            for n, f, t, task, loss in out
        ]
    return [(n, pd.DataFrame(f), t, task, loss) for n, f, t, task, loss in out]


def messy(frame, target, seed=0, missing=0.05):
    """The table as files are: an ID and a name column (text, one value per row), a categorical text
    column that carries signal (the target's tercile, blurred by noise), and `missing` of the numeric
    feature cells empty."""
    rng = np.random.default_rng(seed)
    f = frame.copy()
    n = len(f)
    y = f[target]
    codes = (
        np.searchsorted(np.quantile(y, [1 / 3, 2 / 3]), y)
        if y.dtype.kind in "fi"
        else np.unique(y, return_inverse=True)[1] % 3
    )
    noisy = np.where(rng.random(n) < 0.3, rng.integers(0, 3, n), codes)
    f.insert(0, "id", np.arange(1000, 1000 + n))
    f.insert(1, "name", [f"row-{i:05d}" for i in range(n)])
    f["band"] = np.array(["low", "mid", "high"])[noisy]
    numeric = [c for c in f.columns if c not in (target, "id", "name", "band")]
    for c in numeric:
        f[c] = f[c].astype(np.float64)
        f.loc[rng.random(n) < missing, c] = np.nan
    return f


def split(frame, seed, test=0.25):
    """(train, test) DataFrames: a seeded random split."""
    order = np.random.default_rng(seed).permutation(len(frame))
    k = round(test * len(frame))
    return frame.iloc[np.sort(order[k:])].reset_index(drop=True), frame.iloc[np.sort(order[:k])].reset_index(drop=True)


def sklearn_pipeline(task, loss, seed, categorical=(), impute=False):
    """scikit-learn's StandardScaler + MLPRegressor/MLPClassifier((64, 64)) with its defaults, plus the
    imputer and the one-hot encoder a messy table needs."""
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [SimpleImputer(strategy="mean")] if impute else []
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(*numeric, StandardScaler()), make_column_selector(dtype_include=np.number)),
            (
                "cat",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                list(categorical),
            ),
        ]
    )
    if task == "classify":
        est = MLPClassifier(hidden_layer_sizes=SKLEARN_HIDDEN, random_state=seed)
    else:
        est = MLPRegressor(
            hidden_layer_sizes=SKLEARN_HIDDEN, random_state=seed, loss=loss if loss == "poisson" else "squared_error"
        )
    return make_pipeline(prep, est)


def score(task, y_true, y_pred):
    """R2 for a regression, accuracy for a classifier."""
    from sklearn.metrics import accuracy_score, r2_score

    if task == "classify":
        return float(accuracy_score(np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)))
    return float(r2_score(y_true, y_pred))
