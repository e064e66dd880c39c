"""A sweep's results as one table: a row per point (its axes, status, error, seconds and scalar results).

Written as CSV (always), JSON (rows with full results) and parquet when pyarrow is installed; all load
with ``pandas.read_csv`` / ``read_json`` / ``read_parquet``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infwidth.runs import atomic_file, atomic_write_bytes, atomic_write_json
from infwidth.sweeps.spec import Sweep

FIXED = ("key", "status", "error", "seconds")


def rows(sweep: Sweep, records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per finished point of ``sweep``, in the sweep's point order (pending points omitted)."""
    out = []
    for point in sweep.points():
        record = records.get(point.key)
        if record is None:
            continue
        row: dict[str, Any] = dict(point.axes)
        row.update({"key": point.key, "status": record.get("status"), "error": record.get("error"),
                    "seconds": record.get("seconds")})
        for name, value in (record.get("result") or {}).items():
            if value is None or isinstance(value, (bool, int, float, str)):
                row.setdefault(name, value)
        out.append(row)
    return out


def columns(table: list[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in table:
        cols.extend(c for c in row if c not in cols)
    return cols


def write_table(sweep: Sweep, records: Mapping[str, Mapping[str, Any]], out: str | Path) -> list[Path]:
    """Write ``results.csv``, ``results.json`` and (with pyarrow) ``results.parquet`` into ``out``."""
    out = Path(out)
    table = rows(sweep, records)
    cols = columns(table)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    atomic_write_bytes(out / "results.csv", buf.getvalue().encode())
    atomic_write_json(out / "results.json", table)
    written = [out / "results.csv", out / "results.json"]
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return written
    arrays = {c: [row.get(c) for row in table] for c in cols}
    try:
        arrow = pa.table(arrays)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in a column: store those columns as JSON text
        arrow = pa.table({c: [json.dumps(v) for v in vals] if len({type(v) for v in vals if v is not None}) > 1 else vals
                          for c, vals in arrays.items()})
    with atomic_file(out / "results.parquet") as fh:
        pq.write_table(arrow, fh)
    written.append(out / "results.parquet")
    return written
