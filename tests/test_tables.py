"""fastmlp.tables: reading tables with text, categories and missing cells, and the Preprocessor that
turns them into the network's inputs, checked against scikit-learn's OneHotEncoder(handle_unknown=
"ignore") and SimpleImputer, which are its spec."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from fastmlp.tables import IMPUTE_STRATEGIES, Preprocessor, UnknownCategoryWarning, read_columns

pd = pytest.importorskip("pandas")


def frame(n=40, seed=0, missing=0.15):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "id": np.arange(n),
            "x": rng.standard_normal(n),
            "k": rng.integers(0, 4, n).astype(float),
            "color": rng.choice(["red", "green", "blue"], n),
            "y": rng.standard_normal(n),
        }
    )
    for c in ("x", "k"):
        f.loc[rng.random(n) < missing, c] = np.nan
    f.loc[rng.random(n) < missing, "color"] = None
    return f


def sklearn_reference(train, test, strategy, numeric, categorical):
    sk_impute = pytest.importorskip("sklearn.impute")
    from sklearn.preprocessing import OneHotEncoder

    parts = []
    for c in numeric:
        imp = sk_impute.SimpleImputer(strategy=strategy, fill_value=0.0 if strategy == "constant" else None)
        parts.append(imp.fit(train[[c]]).transform(test[[c]]))
    for c in categorical:
        kind = "most_frequent" if strategy in ("mean", "median") else strategy
        tr, te = (t[[c]].astype(object).where(t[[c]].notna(), None) for t in (train, test))
        imp = sk_impute.SimpleImputer(
            strategy=kind,
            missing_values=None,
            fill_value=None if kind != "constant" else 0.0 if pd.api.types.is_numeric_dtype(train[c]) else "missing",
        )
        enc = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        enc.fit(imp.fit_transform(tr))
        parts.append(enc.transform(imp.transform(te)))
    return np.hstack(parts)


@pytest.mark.parametrize("strategy", IMPUTE_STRATEGIES)
@pytest.mark.parametrize("seed", range(3))
def test_matches_simple_imputer_and_one_hot_encoder(strategy, seed):
    train, test = frame(seed=seed), frame(17, seed=seed + 100)
    test.loc[0, "color"] = "purple"  # unknown at predict time: all zeros
    prep = Preprocessor(drop="id", categorical="k", impute=strategy).fit(train, ["y"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownCategoryWarning)
        got = prep.transform(test)
    want = sklearn_reference(train, test, strategy, ["x"], ["k", "color"])
    # The Preprocessor keeps the table's column order: x, k's one-hot, color's one-hot.
    assert got.shape == want.shape, (got.shape, want.shape)
    err = np.abs(got - want).max()
    assert err <= 1e-12, f"max error {err} against scikit-learn ({strategy}, seed {seed})"


def test_feature_names_and_order():
    f = frame()
    prep = Preprocessor(drop="id", categorical="k", impute="mean").fit(f, ["y"])
    assert prep.input_columns == ["x", "k", "color"]
    assert prep.feature_names == ["x", "k=0", "k=1", "k=2", "k=3", "color=blue", "color=green", "color=red"]
    assert prep.n_features == 8


def test_unknown_categories_are_zeros_and_counted():
    prep = Preprocessor().fit({"c": np.array(["a", "b", "a"], object), "y": np.zeros(3)}, ["y"])
    with pytest.warns(UnknownCategoryWarning, match=r"'c' 2"):
        out = prep.transform({"c": np.array(["z", "b", "q"], object)})
    np.testing.assert_array_equal(out, [[0, 0], [0, 1], [0, 0]])


def test_missing_without_impute_is_refused_by_column_and_flag():
    prep = Preprocessor(drop="id").fit(frame(), ["y"])
    with pytest.raises(ValueError, match=r"column 'x'.*missing cell.*--impute"):
        prep.transform(frame())


def test_features_drop_globs_and_typos():
    f = frame()
    assert Preprocessor(features="x,col*").fit(f, ["y"]).input_columns == ["x", "color"]
    assert Preprocessor(drop="i?,k", impute="mean").fit(f, ["y"]).input_columns == ["x", "color"]
    with pytest.raises(ValueError, match="'nope' matches no column"):
        Preprocessor(drop="nope").fit(f, ["y"])
    with pytest.raises(ValueError, match="no feature columns are left"):
        Preprocessor(features="id", drop="id").fit(f, ["y"])


def test_other_columns_ignored_whatever_they_hold():
    prep = Preprocessor(features="x", impute="median").fit(frame(), ["y"])
    other = frame(5).assign(junk=["a", None, "c", "d", "e"], x=[1.0, 2.0, np.nan, 4.0, 5.0])
    out = prep.transform(other)
    assert out.shape == (5, 1) and np.isfinite(out).all()
    with pytest.raises(ValueError, match="lacks the model's column"):
        prep.transform(other.drop(columns=["x"]))


def test_text_in_a_numeric_column_is_refused():
    prep = Preprocessor(features="x", impute="mean").fit(frame(), ["y"])
    with pytest.raises(ValueError, match=r"column 'x': 'abc' is not a number, but the model was trained on numbers"):
        prep.transform({"x": np.array(["1.5", "abc"], object)})


def test_too_many_categories_points_at_drop():
    n = 1500
    with pytest.raises(ValueError, match="--drop name"):
        Preprocessor().fit({"name": np.array([f"n{i}" for i in range(n)], object), "y": np.zeros(n)}, ["y"])


def test_round_trip_through_json():
    f = frame()
    prep = Preprocessor(drop="id", categorical="k", impute="most_frequent").fit(f, ["y"])
    again = Preprocessor.from_dict(json.loads(prep.to_json()))
    np.testing.assert_array_equal(prep.transform(f), again.transform(f))
    assert again.feature_names == prep.feature_names
    for bad in (
        {},
        {"columns": [{"name": 3, "kind": "numeric"}]},
        {"columns": [{"name": "a", "kind": "what"}]},
        {"columns": [{"name": "a", "kind": "categorical", "categories": "abc"}]},
    ):
        with pytest.raises(ValueError, match="malformed preprocessing"):
            Preprocessor.from_dict(bad)


def test_read_columns_csv_with_text_and_missing_cells(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('id,name,x,y\n1,"Smith, J",1.5,2\n2,,NA,3\n3,Lee,,4\n')
    t = read_columns(path)
    assert t.names == ["id", "name", "x", "y"]
    assert t["name"].tolist() == ["Smith, J", None, "Lee"]
    assert np.isnan(t["x"][1:]).all() and t["x"][0] == 1.5
    assert t["y"].dtype == np.float64


def test_read_columns_arrow_dictionary_and_nulls(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "c": pa.array(["a", "b", None]).dictionary_encode(),
            "x": pa.array([1.0, None, 3.0]),
            "s": pa.array(["u", "v", "w"]),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    for source in (tmp_path / "t.parquet", table):
        t = read_columns(source)
        assert t["c"].tolist() == ["a", "b", None] and "c" in t.categorical
        assert np.isnan(t["x"][1]) and t["s"].tolist() == ["u", "v", "w"]


def test_pandas_category_and_nullable_columns():
    f = pd.DataFrame(
        {
            "c": pd.Categorical([1, 2, 1]),
            "n": pd.array([1, None, 3], dtype="Int64"),
            "s": pd.array(["a", None, "b"], dtype="string"),
        }
    )
    t = read_columns(f)
    assert "c" in t.categorical and t["s"].tolist() == ["a", None, "b"]
    assert np.isnan(t["n"][1]) and t["n"][2] == 3.0
    prep = Preprocessor(impute="most_frequent").fit(f)
    assert prep.feature_names == ["c=1", "c=2", "n", "s=a", "s=b"]


def test_data_parallel_statistics_equal_one_process():
    """fit over ranks' blocks (a fake collective of two ranks) learns the statistics of all the rows."""
    f = frame(60, missing=0.2)
    whole = Preprocessor(drop="id", categorical="k", impute="median").fit(f, ["y"])
    cols = read_columns(f)
    halves = [cols.take(np.arange(0, 25)), cols.take(np.arange(25, 60))]

    class Two:  # both ranks' parts, computed in turn: the collective answers with both
        size, rank = 2, 0

        def __init__(self):
            self.calls = []

        def agree(self, error):
            if error is not None:
                raise error

    # Run rank 0's and rank 1's fits step by step: a collective that replays the other rank's value.
    import itertools

    recorded = [[], []]

    class Recorder(Two):
        def __init__(self, me):
            self.me = me

        def allgather(self, value):
            recorded[self.me].append(("g", value))
            return [value]

        def sum(self, values):
            recorded[self.me].append(("s", values))
            return np.asarray(values, float)

    for me in (0, 1):
        Preprocessor(drop="id", categorical="k", impute="median").fit(halves[me], ["y"], Recorder(me))

    class Replay(Two):
        def __init__(self):
            self.at = itertools.count()

        def allgather(self, value):
            i = next(self.at)
            return [recorded[0][i][1], recorded[1][i][1]]

        def sum(self, values):
            i = next(self.at)
            return np.asarray(recorded[0][i][1], float) + np.asarray(recorded[1][i][1], float)

    both = Preprocessor(drop="id", categorical="k", impute="median").fit(halves[0], ["y"], Replay())
    assert both.to_dict()["columns"] == whole.to_dict()["columns"]


def test_a_column_of_another_type_matters_only_when_used(tmp_path):
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"l": [[1, 2], [3]], "x": [1.0, 2.0], "y": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"column 'l': holds list.*--drop l"):
        Preprocessor().fit(table, ["y"])
    prep = Preprocessor(drop="l").fit(table, ["y"])
    np.testing.assert_array_equal(prep.transform(table), [[1.0], [2.0]])


def test_a_numeric_column_with_a_stray_word_is_refused_not_one_hot_encoded(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1,2\n\n?,3\n4,5\n")
    with pytest.raises(ValueError, match=r"line 4 \(data row 2\), column 'x': '\?' is not a number.*--categorical"):
        Preprocessor().fit(read_columns(path), ["y"])
    prep = Preprocessor(categorical="x").fit(read_columns(path), ["y"])
    assert prep.feature_names == ["x=1", "x=4", "x=?"]


def test_a_column_with_every_cell_missing_cannot_be_imputed():
    with pytest.raises(ValueError, match="every cell is missing.*--drop c"):
        Preprocessor(impute="most_frequent").fit({"c": np.array([None, None], object), "y": np.zeros(2)}, ["y"])


def test_text_categories_match_the_numbers_a_numeric_table_gives():
    prep = Preprocessor(categorical="g").fit({"g": np.array(["1", "2", "A", "02134"], object), "y": np.zeros(4)}, ["y"])
    np.testing.assert_array_equal(
        prep.transform({"g": np.array([1.0, 2134.0])}), [[0, 1, 0, 0], [1, 0, 0, 0]]
    )  # categories sorted: 02134, 1, 2, A


def test_labels_keep_every_digit():
    from fastmlp.tables import label

    assert [label(v) for v in (3.0, 1234567.0, 1234568.0, 0.1, -2.0, "x")] == [
        "3",
        "1234567",
        "1234568",
        "0.1",
        "-2",
        "x",
    ]
    prep = Preprocessor(categorical="c").fit({"c": np.array([1234567.0, 1234568.0]), "y": np.zeros(2)}, ["y"])
    assert prep.feature_names == ["c=1234567", "c=1234568"]


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["columns"][1].update(fill=10**400),
        lambda d: d["columns"][1].update(fill=[1]),
        lambda d: d["columns"][1].update(categories=["b", "a"]),
        lambda d: d["columns"][1].update(categories=["a", 1.0]),
        lambda d: d["columns"][0].update(fill=float("nan")),
        lambda d: d.update(classes=[True, False], targets=["y"]),
        lambda d: d.update(classes=["a", "b"], targets=[]),
        lambda d: d["columns"].append(dict(d["columns"][0])),
    ],
)
def test_crafted_entries_are_refused(change):
    d = (
        Preprocessor(impute="most_frequent")
        .fit({"x": np.array([1.0, np.nan]), "c": np.array(["a", "b"], object), "y": np.zeros(2)}, ["y"])
        .to_dict()
    )
    d = json.loads(json.dumps(d))
    change(d)
    with pytest.raises(ValueError, match="malformed preprocessing"):
        Preprocessor.from_dict(d)


def test_unused_columns_of_other_types_are_ignored():
    f = pd.DataFrame(
        {"d": pd.date_range("2020", periods=3), "b": [True, None, False], "x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0]}
    )
    with pytest.raises(ValueError, match="column 'd'.*--drop d"):
        Preprocessor().fit(f, ["y"])
    prep = Preprocessor(drop="d,b").fit(f, ["y"])
    np.testing.assert_array_equal(prep.transform(f), [[1.0], [2.0], [3.0]])


def test_numbers_stored_as_text_are_read_as_numbers_at_predict_time():
    prep = Preprocessor().fit({"x": np.array([1.0, 2.0]), "y": np.zeros(2)}, ["y"])
    np.testing.assert_array_equal(prep.transform({"x": np.array(["1.5", "2"], object)}), [[1.5], [2.0]])


def test_features_or_drop_naming_the_target_says_so():
    with pytest.raises(ValueError, match="name the target column 'y'"):
        Preprocessor(features="x,y").fit(frame(), ["y"])
