"""`export_marts(...)`: every mart of a DuckDB warehouse to Parquet or CSV files.

One file per mart, `<out_dir>/<mart>.<format>`, written by DuckDB's `COPY ... TO`
(streamed, so millions of heart-rate samples never sit in Python memory). Each file is
written in a private scratch folder beside its final name and renamed over it, so a
reader never sees half a file, a failed export leaves the previous file in place, and
the files are readable by their owner only (folders made for them: 0700). Other files
in the folder are left alone. Instants are written in UTC (Parquet: UTC-adjusted
timestamps; CSV: `+00` suffixes).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from oura_elt.report.marts import SCHEMA, built_marts, open_marts, resolve_warehouse
from pipelines.core.errors import OuraEltError, UsageError
from pipelines.core.private import private_folder, private_scratch, publish

FORMATS = {
    "parquet": "(FORMAT parquet, COMPRESSION zstd)",
    "csv": "(FORMAT csv, HEADER true)",
}
EXPORT_FOLDER = "export"


def default_out_dir(duckdb_path: Path) -> Path:
    """`export/` beside the warehouse file."""
    return duckdb_path.parent / EXPORT_FOLDER


def export_marts(
    duckdb_path: Path | str | None, out_dir: Path | str | None = None, fmt: str = "parquet"
) -> dict[str, int]:
    """Write every built mart to `<out_dir>/<mart>.<fmt>`.

    Args:
        duckdb_path: the DuckDB warehouse (default: `OURA_DUCKDB_PATH`, else
            `data/oura.duckdb`).
        out_dir: the folder (created if missing; default `export/` beside the warehouse).
        fmt: "parquet" or "csv".

    Returns:
        Rows written per mart, in `pipelines.transform.MARTS` order (marts the warehouse
        has not built are left out).

    Raises:
        UsageError: unknown format, no warehouse, `out_dir` is a file.
        OuraEltError: marts not built, the warehouse unreadable, a file not writable.
    """
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not one of: {', '.join(FORMATS)}")
    where = resolve_warehouse(duckdb_path)
    folder = Path(out_dir).expanduser() if out_dir is not None else default_out_dir(where)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {folder} is a file; give a folder for the {fmt} files")

    with open_marts(where) as con, contextlib.ExitStack() as stack:
        marts = built_marts(con)
        try:
            private_folder(folder)
            scratch = stack.enter_context(private_scratch(folder))
        except OSError as exc:
            raise OuraEltError(
                f"cannot create {folder}: {exc.strerror or exc}; choose another --out"
            ) from None
        counts = {}
        for mart in marts:
            counts[mart] = _copy(con, mart, scratch, folder / f"{mart}.{fmt}", FORMATS[fmt])
    return counts


def _copy(con, mart: str, scratch: Path, target: Path, options: str) -> int:
    """COPY one mart into `scratch` (a 0700 folder: DuckDB makes files with the umask's
    mode), then make it 0600 and rename it over `target`."""
    import duckdb

    temporary = scratch / target.name
    quoted = str(temporary).replace("'", "''")
    try:
        (rows,) = con.execute(
            f"COPY (SELECT * FROM {SCHEMA}.{mart}) TO '{quoted}' {options}"
        ).fetchone()
        publish(temporary, target)
    except (duckdb.Error, OSError) as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise OuraEltError(f"cannot write {target}: {reason}; choose another --out") from None
    return int(rows)
