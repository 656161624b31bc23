"""Memory fixtures: every `database_url` test runs on a SQLite file and on a throw-away PostgreSQL.

The PostgreSQL cluster is made once per session with Debian's binaries (`initdb`, `pg_ctl`) in a
temporary directory, listening only on a Unix socket there; each test gets a fresh database in it.
As root (CI), the server runs as the `postgres` system user, because PostgreSQL refuses root.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from anima.app import Runtime
from anima.config import MemorySettings, Settings
from tests.conftest import NO_GATHERING, REPO
from tests.fakes.llm import InstantLLM

PG_BIN_DIRS = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15", "14", "13")]
_databases = itertools.count()
# These tests talk fast, on purpose: flood control (where the safety settings have it) stays out.
_NO_FLOOD_CONTROL: dict[str, Any] = (
    {"safety": {"flood_messages": 1_000_000}} if "safety" in Settings.model_fields else {}
)


def _pg_bin() -> Path | None:
    for directory in PG_BIN_DIRS:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


class PostgresCluster:
    """A cluster in a new temporary directory, removed on stop; or kept in `root` (the scale bench's
    stores) and started again from there."""

    def __init__(self, bin_dir: Path, root: Path | None = None, settings: str = "") -> None:
        self.bin = bin_dir
        self.settings = settings  # more server options, e.g. "-c max_connections=300"
        self.kept = root is not None
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        self.root = root or Path(tempfile.mkdtemp(prefix="anima-pg-"))
        self.data = self.root / "data"
        self.user = None if os.geteuid() != 0 else "postgres"
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, user=self.user, timeout=60)

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self._init()
        options = f"-k {self.root} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
        options += f" {self.settings}"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
            "-w", "-t", "30", "start",
        )  # fmt: skip

    def _init(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "anima",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip

    def stop(self) -> None:
        try:
            mode = "fast" if self.kept else "immediate"  # a kept cluster's data stays consistent
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop")
        finally:
            if not self.kept:
                shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://anima@/{database}?host={self.root}"

    def create_database(self, name: str = "") -> str:
        """A new empty database (`name`, or a fresh test name); a kept one of that name stays as it is."""
        if name and self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
            return name
        name = name or f"anima_test_{next(_databases)}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def psql(self, sql: str) -> str:
        return subprocess.run(
            [str(self.bin / "psql"), "-h", str(self.root), "-U", "anima", "-d", "postgres", "-qAt",
             "-c", sql],
            check=True, capture_output=True, text=True, timeout=30,
        ).stdout.strip()  # fmt: skip


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's `postgresql` package "
            "(.ci/run does) to run the memory tests on PostgreSQL"
        )
    cluster = PostgresCluster(bin_dir)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/anima.db"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.url(cluster.create_database())


@pytest.fixture
def any_settings(database_url: str) -> Settings:
    return Settings(
        conversation=NO_GATHERING,
        characters_dir=REPO / "characters",
        default_character="aiko",
        memory=MemorySettings(database_url=database_url, summarize_every=0, llm_facts_every=0),
        **_NO_FLOOD_CONTROL,
    )


@pytest.fixture
async def any_runtime(any_settings: Settings, instant_llm: InstantLLM) -> AsyncIterator[Runtime]:
    """A started runtime on SQLite or PostgreSQL; background LLM work off unless a test turns it on."""
    runtime = await Runtime.start(any_settings)
    runtime.router.register("embedded", instant_llm)
    yield runtime
    await runtime.close()
