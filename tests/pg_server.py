"""A real PostgreSQL server for tests: initdb and pg_ctl on a temporary folder, on a free loopback port.

Debian's `postgresql` package (installed by .ci/run) provides the binaries. As root, the server runs as the
`postgres` user (PostgreSQL refuses to run as root). Trust authentication for the test role, TCP on 127.0.0.1
only, no Unix socket, no fsync: a throwaway server.
"""

from __future__ import annotations

import datetime
import glob
import io
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

ROLE = "kpi_test"
DATABASE = "kpi"


def binaries() -> Path | None:
    """The folder of initdb and pg_ctl (the newest installed version), or None when PostgreSQL is missing."""
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    found = [Path(f) for f in folders if (Path(f) / "initdb").exists() and (Path(f) / "pg_ctl").exists()]
    if found:
        return found[-1]
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path and shutil.which("initdb") else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One server, started by `start` and removed by `stop`."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="kpi-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0  # PostgreSQL will not run as root

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        return subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, check=True)

    def start(self) -> None:
        if self.as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            ROLE,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        with self.connect("postgres") as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, table: str | None = None) -> str:
        """The app's URL for the test database (no password: trust authentication)."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{DATABASE}" + (f"?table={table}" if table else "")

    def connect(self, database: str = DATABASE):
        """A writable connection for the test's own set-up (the app's connections are read-only)."""
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=ROLE, dbname=database, autocommit=True)

    def load(self, name: str, frame: pd.DataFrame, append: bool = False) -> None:
        """Creates table `name` from a DataFrame (text, bigint, double precision, numeric) with COPY; `append`
        adds the rows to the table instead."""
        types = {
            "i": "bigint",
            "f": "double precision",
            "b": "boolean",
            "M": "timestamp",
        }
        columns = []
        for column in frame.columns:
            kind = frame[column].dtype.kind
            sql_type = types.get(kind, "text")
            first = frame[column].iloc[0] if kind == "O" and len(frame) else None
            if hasattr(first, "as_tuple"):
                sql_type = "numeric(18,2)"  # Decimal values
            elif isinstance(first, datetime.date):
                sql_type = "date"
            columns.append(f'"{column}" {sql_type}')
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, header=False)
        with self.connect() as connection:
            if not append:
                connection.execute(f'DROP TABLE IF EXISTS "{name}"')
                connection.execute(f'CREATE TABLE "{name}" ({", ".join(columns)})')
            with connection.cursor().copy(f'COPY "{name}" FROM STDIN WITH (FORMAT csv)') as copy:
                copy.write(buffer.getvalue())
