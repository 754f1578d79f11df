"""Error injection (stub; see below)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ERROR_KINDS", "TruthRow", "inject_errors"]

ERROR_KINDS: tuple[str, ...] = ()


class TruthRow(NamedTuple):
    record_id: str
    form: str
    instance: str
    field: str
    error_kind: str


def inject_errors(rng, records, metadata, error_rate, as_of):
    return records, []
