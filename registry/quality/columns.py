"""A frame's columns by name, each made a Series only when first asked for.

`{str(k): v for k, v in frame.items()}` makes a Series of every column: on a wide
project's frames (thousands of columns) that is most of a pass that reads a few of
them. `FrameColumns` maps the same names (a repeated name: its last column, as that
dict keeps) and takes a column out of the frame when it is first read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from registry.tidy import column_values

__all__ = ["FrameColumns", "column_arrays"]


def column_arrays(frame: pd.DataFrame) -> list[Any]:
    """Each column's values as the frame holds them (`registry.tidy.column_values`:
    a NumPy array or an extension array, shared, not copied), in column order; for
    reading only. Through the public API: pandas' private column iterator would skip
    the Series per column (~50 us each, a third of a second on a wide project's
    frames), but it is not ours to lean on."""
    return [column_values(column) for _, column in frame.items()]


class FrameColumns(Mapping[str, pd.Series]):
    """`frame`'s columns by `str` name, each taken out (and kept) on first use."""

    __slots__ = ("_frame", "_label", "_taken", "_unique")

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame
        self._label: dict[str, tuple[Any, int]] = {str(k): (k, i)
                                                   for i, k in enumerate(frame.columns)}
        self._unique = frame.columns.is_unique  # then by label: half iloc's cost
        self._taken: dict[str, pd.Series] = {}

    def __getitem__(self, name: str) -> pd.Series:
        taken = self._taken.get(name)
        if taken is None:
            label, i = self._label[name]
            taken = self._frame[label] if self._unique else self._frame.iloc[:, i]
            self._taken[name] = taken
        return taken

    def __contains__(self, name: object) -> bool:
        return name in self._label

    def __iter__(self) -> Iterator[str]:
        return iter(self._label)

    def __len__(self) -> int:
        return len(self._label)
