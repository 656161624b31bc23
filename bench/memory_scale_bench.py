"""Recall latency at scale: 100,000 and 1,000,000 messages, on SQLite and on PostgreSQL, vectors on.

Run: .venv/bin/python -m bench memory_scale_bench      (ANIMA_SCALE_BENCH=100000 for one size)
     .venv/bin/anima bench memory [--full] [--database URL]   (one size, one database)

The stores are built once (anima/memory/scale.py; ~25 s per 100,000 messages on SQLite) and kept
under the temporary directory: SQLite files, and a PostgreSQL cluster started from Debian's binaries
as the tests start theirs. A later run reuses them; delete /tmp/anima-scale to build afresh. Each
database's files are read once before recall is timed (in the OS cache, as on a running server).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from anima.memory import scale
from bench.report import record_all
from tests.memory.conftest import PostgresCluster, _pg_bin

COMMAND = ".venv/bin/python -m bench memory_scale_bench"
SIZES = {100_000: 1_000, 1_000_000: 10_000}  # messages: users (100 messages each)


async def main() -> None:
    wanted = [int(n) for n in os.environ.get("ANIMA_SCALE_BENCH", "").split() if n] or list(SIZES)
    bin_dir = _pg_bin()
    cluster = None if bin_dir is None else PostgresCluster(bin_dir, scale.CACHE_DIR / "postgresql")
    if cluster is None:
        print("(PostgreSQL not measured: its server binaries, initdb and pg_ctl, are not installed)")
    else:
        cluster.start()
    try:
        for messages in wanted:
            users = SIZES.get(messages, messages // 100)
            databases: list[tuple[str, str | None]] = [("sqlite (WAL file)", None)]
            if cluster is not None:
                databases.append(("postgresql", _database(cluster, scale.Size(messages, users))))
            for where, name in databases:
                url = None if cluster is None or name is None else cluster.url(name)
                files = None if cluster is None or name is None else partial(_files, cluster, name)
                figures = await scale.scale(messages, users, url, vectors=True, files=files)
                record_all(scale.table(figures, f"{where}, vectors on", COMMAND))
                print()
    finally:
        if cluster is not None:
            cluster.stop()


def _files(cluster: PostgresCluster, name: str) -> list[Path]:
    """The files of one database of the cluster (its tables and indexes)."""
    oid = cluster.psql(f"SELECT oid FROM pg_database WHERE datname = '{name}'")
    return sorted(p for p in (cluster.data / "base" / oid).iterdir() if p.is_file())


def _database(cluster: PostgresCluster, size: scale.Size) -> str:
    """The database kept for this size's build; one of an older build (another key) is dropped."""
    name = "scale_" + size.key().replace("-", "_") + "_vectors"
    prefix = name.split("_")[:3]
    for old in cluster.psql("SELECT datname FROM pg_database WHERE datname LIKE 'scale\\_%'").split():
        if old.split("_")[:3] == prefix and old != name:
            cluster.psql(f"DROP DATABASE {old}")
    return cluster.create_database(name)
