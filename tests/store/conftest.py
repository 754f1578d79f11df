"""Store tests run twice: on a SQLite file and on PostgreSQL (REGISTRY_TEST_PG_URL).

Each PostgreSQL test gets its own schema (see `tests/pg.py`), so `pytest -n 2` runs
never collide.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.store import Store
from tests.pg import STORE_BACKENDS, store_url_for


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store: a SQLite file, or a fresh PostgreSQL schema."""
    with store_url_for(request.param, tmp_path / "var" / "registry.sqlite", "t",
                       "store tests") as url:
        yield url


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
