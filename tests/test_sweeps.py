"""Hyperparameter search across workers: scikit-learn's GridSearchCV over fastmlp's estimator, its fits
run by a local Dask cluster through joblib's Dask backend (the README's recipe)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="needs scikit-learn (pip install '.[dask]')")
distributed = pytest.importorskip("dask.distributed", reason="needs dask.distributed (pip install '.[dask]')")


@pytest.mark.slow
def test_grid_search_on_a_local_dask_cluster():
    import warnings

    import joblib
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV

    from fastmlp.sklearn import MLPRegressor

    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 3)).astype(np.float32)
    y = (x[:, 0] - 2 * x[:, 1] + 0.1 * rng.standard_normal(300)).astype(np.float32)
    grid = {"hidden_layer_sizes": [(8,), (16,)], "random_state": [0, 1]}
    warnings.simplefilter("ignore", ConvergenceWarning)  # short fits, as scikit-learn's own would warn
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        with joblib.parallel_config(backend="dask"):
            search = GridSearchCV(MLPRegressor(), grid, cv=3).fit(x, y)
        ran_on = {w for w, tasks in client.processing().items()} | set(client.scheduler_info()["workers"])
    local = GridSearchCV(MLPRegressor(), grid, cv=3).fit(x, y)
    assert len(ran_on) == 2
    assert search.best_params_ == local.best_params_
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"], rtol=1e-6)
    assert search.best_score_ > 0.8  # a linear target: every candidate fits it well
