"""SQLite schema and connection helpers.

The database lives in ``<data_dir>/playground.db``. Every call opens its own short-lived
connection, so the helpers are safe from any thread and from a worker process. WAL mode lets
readers run while a writer commits, and a busy timeout makes concurrent writers wait instead of
failing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    dataset TEXT NOT NULL,
    preset TEXT,
    path TEXT NOT NULL,
    input_shape TEXT NOT NULL,
    classes TEXT NOT NULL,
    layers TEXT NOT NULL,
    metrics TEXT NOT NULL DEFAULT '{}',
    metadata TEXT NOT NULL DEFAULT '{}',
    builtin INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    epoch INTEGER NOT NULL DEFAULT 0,
    history TEXT NOT NULL DEFAULT '[]',
    model_id TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at);
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    input_shape TEXT NOT NULL,
    classes TEXT NOT NULL,
    n_train INTEGER NOT NULL,
    n_test INTEGER NOT NULL,
    n_examples INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
"""

# Columns stored as JSON text and decoded by ``decode_row``.
JSON_COLUMNS = frozenset(
    {"input_shape", "classes", "layers", "metrics", "metadata", "params", "history"}
)

# Seconds a connection waits for another writer's lock before raising ``OperationalError``.
BUSY_TIMEOUT_S = 30.0


def utc_now() -> str:
    """Return the current UTC time as an ISO 8601 string with a ``Z`` suffix."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def to_utc_text(text: str) -> str:
    """Rewrite an ISO 8601 time such as ``2026-12-04T20:41:00+00:00`` in UTC with a ``Z`` suffix.

    A time without an offset is taken as UTC. Text that is not ISO 8601, which a hand-edited model
    file's metadata may contain, is returned unchanged.
    """
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def to_json(value: Any) -> str:
    """Encode a value for a JSON column; NaN and infinity are rejected."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def decode_row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    """Convert a row into a dict, decoding the JSON columns."""
    if row is None:
        return None
    record = dict(row)
    for key in JSON_COLUMNS.intersection(record):
        if record[key] is not None:
            record[key] = json.loads(record[key])
    return record


def connect(db_path: Path) -> sqlite3.Connection:
    """Open a connection with WAL journaling, foreign keys and ``sqlite3.Row`` rows."""
    connection = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


@contextmanager
def transaction(db_path: Path) -> Iterator[sqlite3.Connection]:
    """Yield a connection inside ``BEGIN IMMEDIATE``; commit on success, roll back on error."""
    connection = connect(db_path)
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    finally:
        connection.close()


def init_db(db_path: Path) -> None:
    """Create the database file and its tables when missing."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    connection = connect(db_path)
    try:
        connection.executescript(SCHEMA)
    finally:
        connection.close()


def fetch_one(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
    """Run a query and return its first row decoded, or None."""
    connection = connect(db_path)
    try:
        return decode_row(connection.execute(sql, params).fetchone())
    finally:
        connection.close()


def fetch_all(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Run a query and return every row decoded."""
    connection = connect(db_path)
    try:
        return [decode_row(row) for row in connection.execute(sql, params).fetchall()]
    finally:
        connection.close()


def execute(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> int:
    """Run one write statement in its own transaction and return the number of changed rows."""
    with transaction(db_path) as connection:
        return connection.execute(sql, params).rowcount
