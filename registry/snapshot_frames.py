"""A snapshot's flat rows as one data frame of strings, the input tidy reads.

Built from the store's row table (`Store.snapshot_table`: one tuple per row, in the
export's column order), not from a dict per row: at 100 times the study's size that
is ~130,000 rows of ~60 columns, and the dicts were most of the reading time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from registry.store import Store

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["snapshot_frame"]


def snapshot_frame(store: Store, snapshot_id: int) -> pd.DataFrame:
    """Every flat row of the snapshot (object dtype, `""` for empty), in export order."""
    import numpy as np
    import pandas as pd

    columns, rows = store.snapshot_table(snapshot_id)
    if not rows:
        return pd.DataFrame(columns=columns, dtype=object)
    values = np.empty((len(rows), len(columns)), dtype=object)
    values[:] = rows
    return pd.DataFrame(values, columns=columns)
