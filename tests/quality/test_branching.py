"""REDCap branching logic read into per-row shown / hidden / unknown."""

from __future__ import annotations

import pandas as pd
import pytest

from registry.quality.branching import BranchingError, describe, evaluate, parse


def test_parse_and_describe(dictionary: list[dict[str, str]]) -> None:
    meta = {m["field_name"]: m for m in dictionary}
    logic = parse("[trt_ongoing] = '0'")
    assert (logic.field, logic.op, logic.value) == ("trt_ongoing", "=", "0")
    assert describe(logic, meta) == "Still taken at last follow-up? is No"
    both = parse("([vital_status] = '2' and [lung_tx] <> \"1\") or [skin(3)] = '1'")
    assert both.kind == "or" and both.fields() == {"vital_status", "lung_tx", "skin"}
    assert "Vital status at last follow-up is Dead" in describe(both, meta)
    for bad in ("[a] = ", "[a] == '1' xor [b] = '2'", "datediff([a],[b]) > 3", "([a] = '1'"):
        with pytest.raises(BranchingError):
            parse(bad)


def test_evaluate_maps_codes_to_tidy_values(dictionary: list[dict[str, str]]) -> None:
    meta = {m["field_name"]: m for m in dictionary}
    frame = pd.DataFrame({
        "trt_ongoing": pd.array([False, True, None], dtype="boolean"),
        "trt_name": pd.array(["Other", "Tofacitinib", None], dtype="string"),
        "skin___3": pd.array([True, False, False], dtype="boolean"),
    })
    shown = evaluate(parse("[trt_ongoing] = '0'"), frame, meta)
    assert shown.tolist() == [True, False, pd.NA]
    assert evaluate(parse("[trt_name] = '99'"), frame, meta).tolist() == [True, False, pd.NA]
    assert evaluate(parse("[trt_name] = ''"), frame, meta).tolist() == [False, False, True]
    assert evaluate(parse("[skin(3)] = '1'"), frame, meta).tolist() == [True, False, False]
    either = evaluate(parse("[trt_ongoing] = '0' or [skin(3)] = '1'"), frame, meta)
    assert either.tolist() == [True, False, pd.NA]
    with pytest.raises(BranchingError, match="not on this form"):
        evaluate(parse("[ild] = '1'"), frame, meta)
