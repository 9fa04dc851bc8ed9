"""Data sets and CSV reading for the CLI.

`women` is R's datasets::women (source: The World Almanac and Book of Facts, 1975): average weight
in pounds of American women aged 30-39 by height in inches, 15 rows. It is the seed lesson's
height -> weight regression, shipped with the package so the demo needs no download.
"""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np

__all__ = ["load_women", "read_csv"]


def load_women():
    """(height in inches, weight in pounds): two float64 arrays of 15 values."""
    text = resources.files("fastmlp").joinpath("data/women.csv").read_text()
    header, columns = _parse_csv(text.splitlines(), "women.csv")
    return columns[:, header.index("height")].copy(), columns[:, header.index("weight")].copy()


def read_csv(path):
    """A numeric CSV with a header row -> (column names, float64 array of shape (rows, columns)).

    Raises FileNotFoundError for a missing file and ValueError naming the row and column of any cell
    that is not a number."""
    with open(path, newline="") as f:
        return _parse_csv(f, str(path))


def _parse_csv(lines, where):
    reader = csv.reader(lines)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ValueError(f"{where} is empty; expected a header row and numeric rows") from None
    rows = []
    for line_no, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ValueError(f"{where} line {line_no} has {len(row)} cells but the header has {len(header)}")
        values = []
        for name, cell in zip(header, row):
            try:
                values.append(float(cell))
            except ValueError:
                raise ValueError(f"{where} line {line_no}, column {name!r}: {cell!r} is not a number") from None
        rows.append(values)
    if not rows:
        raise ValueError(f"{where} has a header but no data rows")
    return header, np.array(rows, dtype=np.float64)
