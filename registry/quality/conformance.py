"""The `type` check: values REDCap's validation refuses, as flags and result rows.

tidy tried to read every value as REDCap reads it (`registry.fieldtypes`) and listed the
refusals in its `conformance` frame; this module turns each into a flag of the field's
`dictionary.<field>.type` rule (a checkbox column `<field>___<code>` counts for its
field) and counts, per site and rule, the values looked at and refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from registry.fieldtypes import checkbox_columns
from registry.quality.columns import column_arrays
from registry.quality.flags import FAILURE_COLUMNS, SiteLink, form_link, link_for
from registry.quality.suites import Rule
from registry.quality.summary import SiteCodes, SiteCounts, result_row
from registry.schema import RegistrySchema

__all__ = ["type_failures", "type_results"]


def _instance_text(values: pd.Series) -> pd.Series:
    num = pd.to_numeric(values, errors="coerce")
    return pd.Series(["" if pd.isna(v) else str(int(v)) for v in num], index=values.index,
                     dtype=object)


def type_failures(conformance: pd.DataFrame | None, rules: Sequence[Rule],
                  site_links: Mapping[str, SiteLink] | SiteLink | None) -> pd.DataFrame:
    """One failure row per refused value whose field has a (not switched off) type rule."""
    by_field = {r.field: r for r in rules if r.type == "conformance"}
    if conformance is None or conformance.empty or not by_field:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    conf = conformance.copy()
    conf["base"] = conf["field"].astype(str).str.split("___").str[0]
    conf = conf[conf["base"].isin(list(by_field))]
    if conf.empty:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    rule = conf["base"].map(by_field)
    values = conf["value"].astype(str)
    messages = [r.message.replace("{value}", "\x00").replace("{{", "{").replace("}}", "}")
                .replace("\x00", v) for r, v in zip(rule, values, strict=True)]
    instance = _instance_text(conf["instance"])
    sites = conf["site"].astype(str)
    records = conf["record_id"].astype(str)
    forms = conf["form"].astype(str)
    out = pd.DataFrame({
        "site": sites, "patient_id": conf["patient_id"].astype(str), "record_id": records,
        "form": forms, "instance": instance, "field": conf["base"],
        "rule_id": [r.id for r in rule], "severity": [r.severity for r in rule],
        "message": messages, "value": values,
        "link": [form_link(link_for(site_links, s), rec, f, i) for s, rec, f, i in
                 zip(sites, records, forms, instance, strict=True)],
    })
    out["event"] = conf["event"].fillna("").astype(str) if "event" in conf.columns else ""
    return out[FAILURE_COLUMNS].reset_index(drop=True)


def type_results(rules: Sequence[Rule], frames: Mapping[str, pd.DataFrame],
                 failures: pd.DataFrame, schema: RegistrySchema,
                 sites: Sequence[str], site_codes: SiteCodes | None = None) -> list[
                     dict[str, object]]:
    """Per site and type rule: values looked at (read or refused) and refused.

    `site_codes`: the frames' sites already hashed (`SiteCodes` of these frames).
    """
    site_codes = site_codes or SiteCodes(frames)
    meta = {m["field_name"]: m for m in schema.metadata}
    refused = (failures.groupby(["rule_id", "site"]).size().to_dict()
               if len(failures) else {})
    site_index = {s: i for i, s in enumerate(sites)}
    rows: list[dict[str, object]] = []
    by_frame: dict[str, list[Rule]] = {}
    for rule in rules:
        by_frame.setdefault(rule.frame, []).append(rule)
    for name, frame_rules in by_frame.items():
        frame = frames.get(name)
        counts: dict[str, np.ndarray] = {}
        if frame is not None and len(frame):
            sites_of = SiteCounts(site_codes.of(name, site_index, -1), len(sites))
            # each column's values as stored (a repeated name: its last column)
            series = dict(zip(map(str, frame.columns), column_arrays(frame), strict=True))
            wanted = {rule.field: [c for c in (checkbox_columns(meta.get(rule.field, {}))
                                               or [rule.field]) if c in series]
                      for rule in frame_rules}
            for field_name, cols in wanted.items():
                if not cols:
                    continue
                # on the columns' arrays: a Series' notna builds a Series per column
                n = np.sum([pd.notna(series[c]) for c in cols], axis=0)
                counts[field_name] = np.asarray(sites_of.count(n), dtype=int)
        for rule in frame_rules:
            got = counts.get(rule.field)
            for i, site in enumerate(sites):
                failed = int(refused.get((rule.id, site), 0))
                looked = (int(got[i]) if got is not None else 0) + failed
                rows.append(result_row(rule, site, looked, failed))
    return rows
