"""Store tests run twice: on a SQLite file and on PostgreSQL (REGISTRY_TEST_PG_URL).

Each PostgreSQL test gets its own schema (named after a random id, dropped afterwards)
through the connection's `search_path`, so `pytest -n 2` runs never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry.store import Store

PG_URL = os.environ.get("REGISTRY_TEST_PG_URL")


def _pg_schema_url(base: str, schema: str) -> str:
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'registry.sqlite'}"
        return
    if not PG_URL:
        pytest.skip("REGISTRY_TEST_PG_URL is not set: PostgreSQL store tests skipped "
                    "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(PG_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as s:
        yield s


COLUMNS = ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance",
           "redcap_data_access_group", "sex", "birth_date", "ild", "trt_name", "trt_start",
           "baseline_complete", "treatments_complete"]


def _make_record(record_id: str, n_treatments: int = 2, version: int = 0) -> list[dict[str, str]]:
    """A record as REDCap's flat export gives it: a baseline row plus repeat rows."""
    base = dict.fromkeys(COLUMNS, "")
    first = base | {"record_id": record_id, "sex": "1", "birth_date": f"19{50 + version}-01-02",
                    "ild": "1", "redcap_data_access_group": "paris", "baseline_complete": "2"}
    rows = [first]
    for i in range(1, n_treatments + 1):
        rows.append(base | {"record_id": record_id, "redcap_repeat_instrument": "treatments",
                            "redcap_repeat_instance": str(i), "trt_name": "11",
                            "trt_start": f"2020-0{i}-01", "redcap_data_access_group": "paris",
                            "treatments_complete": "2"})
    return rows


def _make_records(n: int, start: int = 1) -> dict[str, list[dict[str, str]]]:
    return {str(i): _make_record(str(i), n_treatments=i % 3) for i in range(start, start + n)}


@pytest.fixture
def make_record():  # noqa: ANN201 - a factory fixture
    """make_record(record_id, n_treatments=2, version=0) -> flat rows of one record."""
    return _make_record


@pytest.fixture
def make_records():  # noqa: ANN201
    """make_records(n, start=1) -> {record_id: rows} for ids start..start+n-1."""
    return _make_records


@pytest.fixture
def dictionary() -> list[dict[str, str]]:
    return [dict(d) for d in DICTIONARY]


DICTIONARY = [{"field_name": c, "form_name": "baseline", "field_type": "text"}
              for c in ("record_id", "sex", "birth_date")]
