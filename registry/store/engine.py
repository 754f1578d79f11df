"""Store URL -> SQLAlchemy Engine, set up for a nightly job that must not corrupt data.

SQLite (the default, one file under `var/`): write-ahead log so readers (`registry
status`) never block the nightly writer, foreign keys on, a busy timeout instead of an
instant "database is locked", and write transactions opened with `BEGIN IMMEDIATE` so
two writers queue instead of deadlocking half-way. PostgreSQL goes through psycopg 3.

Every failure to reach or write the store becomes a one-line `StoreError` that names the
store with its password hidden.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from registry.errors import StoreError

__all__ = ["BUSY_TIMEOUT_MS", "describe_url", "make_engine", "store_errors", "write_transaction"]

#: How long a SQLite connection waits for another writer before giving up.
BUSY_TIMEOUT_MS = 30_000


def describe_url(url: str | URL) -> str:
    """The store URL as safe to print: the password replaced by `***`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable store URL>"


def _reason(exc: BaseException, url: URL | None) -> str:
    """The first line of a driver error, with the password scrubbed in case it shows."""
    orig = getattr(exc, "orig", None) or exc
    text = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if url is not None and url.password:
        text = text.replace(str(url.password), "***")
    return text


def _json_dumps(value: Any) -> str:
    from registry.store.results import dumps

    return dumps(value)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the sqlite3 module) decide where transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("registry_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str | URL) -> Engine:
    """An Engine for `url` (sqlite:///path or postgresql+psycopg://...).

    Creates the parent folder of a SQLite file. Raises `StoreError` for a URL that is
    not a supported database or a folder that cannot be created.
    """
    safe = describe_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"store URL {safe} is not a database URL; "
                         "use sqlite:///path or postgresql+psycopg://...") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise StoreError(f"store URL {safe}: give a SQLite file path "
                             "(an in-memory store would vanish at the end of the run)")
        folder = Path(database).expanduser().resolve().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"store folder {folder} cannot be created ({exc.strerror}); "
                             "check store.url in settings.toml and the folder's rights") from exc
        engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
                               json_serializer=_json_dumps)
        _sqlite_setup(engine)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg",):
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            return create_engine(parsed, pool_pre_ping=True, json_serializer=_json_dumps,
                                 connect_args={"connect_timeout": 10})
        except (NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"store {safe}: the psycopg driver is not installed") from exc
    raise StoreError(f"store URL {safe}: unsupported database '{backend}'; "
                     "use sqlite:///path or postgresql+psycopg://...")


@contextlib.contextmanager
def store_errors(engine: Engine, doing: str) -> Iterator[None]:
    """Turn a database error raised while `doing` something into a one-line StoreError."""
    try:
        yield
    except DBAPIError as exc:
        url = engine.url
        what = _reason(exc, url)
        hint = ("check that the database server runs and the URL is right"
                if exc.connection_invalidated or "connect" in what.lower()
                else "check the store's rights and free disk space")
        raise StoreError(f"store {describe_url(url)}: cannot {doing}: {what} ({hint})") from exc
    except SQLAlchemyError as exc:
        raise StoreError(
            f"store {describe_url(engine.url)}: cannot {doing}: {_reason(exc, engine.url)}"
        ) from exc


@contextlib.contextmanager
def write_transaction(engine: Engine, doing: str) -> Iterator[Connection]:
    """One write transaction: all of it commits, or none of it (rollback on any error)."""
    with store_errors(engine, doing), engine.connect() as conn:
        conn = conn.execution_options(registry_write=True)
        with conn.begin():
            yield conn
