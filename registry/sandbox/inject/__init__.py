"""Inject realistic data errors into clean REDCap rows and keep the ground truth.

Each error changes one cell (`implausible_age` also the calc REDCap recomputes from it,
and `duplicate_instance` adds a whole repeat instance) and leaves one `TruthRow` per
cell a correct quality stage should flag: in a chronology or consistency pair, the
later / dependent field, i.e. the one changed. Every injection also *references* the
cells its error is defined against (diagnosis date, the stay's admission, the death
date...); a cell that one injection changed is never changed or referenced by another,
so errors never overlap and never make a clean cell look wrong.

The number of errors is Poisson(error_rate x patients); each error's kind is drawn
uniformly, then random cells until one is eligible (a kind with no eligible cell left
is redrawn), so every kind is about equally frequent.

`inject.context` holds the shared state, `inject.kinds` one injector per kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np

from registry.sandbox.inject.context import ERROR_KINDS, Context, Row, TruthRow
from registry.sandbox.inject.kinds import INJECTORS, KIND_FIELDS

__all__ = ["ERROR_KINDS", "KIND_FIELDS", "TruthRow", "inject_errors"]


def inject_errors(
    rng: np.random.Generator, records: list[Row], metadata: Sequence[dict[str, str]],
    error_rate: float, as_of: date,
) -> tuple[list[Row], list[TruthRow]]:
    """Inject Poisson(error_rate x patients) errors into `records` (changed in place;
    duplicated instances appended) and return (records, truth)."""
    base = {r["record_id"]: r for r in records if not r["redcap_repeat_instrument"]}
    by_form: dict[str, list[Row]] = {}
    repeat: dict[tuple[str, str], list[Row]] = {}
    for r in records:
        form = r["redcap_repeat_instrument"]
        by_form.setdefault(form, []).append(r)
        if form:
            repeat.setdefault((r["record_id"], form), []).append(r)
    ctx = Context(rng=rng, as_of=as_of, base=base, rows=records, repeat=repeat,
               form_of={m["field_name"]: m["form_name"] for m in metadata})
    pools = {kind: [r for f in forms for r in by_form.get(f, [])]
             for kind, (forms, _) in INJECTORS.items()}
    for _ in range(int(rng.poisson(error_rate * len(base)))):
        _inject_one(ctx, pools)
    return records, ctx.truth


def _inject_one(ctx: Context, pools: dict[str, list[Row]]) -> bool:
    """Draw a kind, then cells for it until one fits; another kind if none does."""
    for _kind_attempt in range(10):
        kind = ERROR_KINDS[ctx.int_(0, len(ERROR_KINDS) - 1)]
        pool = pools[kind]
        for _cell_attempt in range(min(50, len(pool))):
            if INJECTORS[kind][1](ctx, pool[ctx.int_(0, len(pool) - 1)]):
                return True
    return False
