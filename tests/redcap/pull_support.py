"""Helpers for the pull tests: settings for a sandbox, API writes, content comparison."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from registry.settings import PullSettings, Settings, Site, StoreSettings

DAG_COLUMN = "redcap_data_access_group"
#: The project-level calls a pull makes (counted by the `calls` fixture).
PROJECT_CALLS = ("metadata", "project", "version", "repeatingFormsEvents", "instrument", "dag")

#: Fast, patient settings for tests: no pacing worth the name, no backoff waits.
FAST = PullSettings(batch_size=25, min_batch_size=5, requests_per_minute=600_000,
                    timeout_seconds=5.0, retries=3, backoff_seconds=0.0,
                    full_pull_every_days=7, overlap_minutes=10)


def settings_for(tmp_path: Path, sites: Sequence[Site], pull: PullSettings = FAST,
                 store_url: str | None = None) -> Settings:
    return Settings(path=tmp_path / "settings.toml",
                    store=StoreSettings(store_url or f"sqlite:///{tmp_path / 'store.sqlite'}"),
                    reports_dir=tmp_path / "reports", sites=tuple(sites), pull=pull,
                    log_file=tmp_path / "registry.log")


def sparse(rows: Iterable[Mapping[str, Any]], drop: Iterable[str] = ()) -> list[dict[str, str]]:
    """Rows without their empty values (REDCap's `""`), every value a string."""
    skip = set(drop)
    return [{k: str(v) for k, v in row.items() if v not in ("", None) and k not in skip}
            for row in rows]


def by_record(rows: Iterable[Mapping[str, Any]], id_field: str = "record_id",
              drop: Iterable[str] = ()) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for row in sparse(rows, drop):
        out.setdefault(row[id_field], []).append(row)
    return dict(sorted(out.items()))


def api(url: str, token: str, **params: Any) -> Any:
    """One REDCap API call over HTTP (form-encoded POST), as any client would send it."""
    data = {"token": token, "format": "json", "returnFormat": "json", **params}
    response = requests.post(url, data=data, timeout=10)
    response.raise_for_status()
    return response.json()


def import_rows(url: str, token: str, rows: list[dict[str, Any]]) -> Any:
    return api(url, token, content="record", action="import", type="flat",
               overwriteBehavior="normal", data=json.dumps(rows))


def delete_records(url: str, token: str, ids: Sequence[str]) -> Any:
    return api(url, token, content="record", action="delete",
               **{f"records[{i}]": rid for i, rid in enumerate(ids)})
