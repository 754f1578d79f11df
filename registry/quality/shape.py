"""The part of the registry's shape the quality stage reads, from a schema or a dictionary.

`registry.schema.RegistrySchema` (forms, frames, events, repeating setup) is what the
stage reads; `shape_of` also accepts a bare data dictionary (a classic project: every
form is its own frame, named after the form unless the legacy anti-MDA5 names apply),
so the quality stage works on any project, with or without a profile.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Shape", "shape_of"]


class _Event(Protocol):
    unique_name: str
    arm: Any


class Shape(Protocol):
    """What the dictionary-derived rules need to know about a project."""

    @property
    def metadata(self) -> Sequence[Mapping[str, str]]: ...
    @property
    def id_field(self) -> str: ...
    @property
    def forms(self) -> Sequence[str]: ...
    @property
    def longitudinal(self) -> bool: ...
    @property
    def events(self) -> Sequence[Any]: ...
    @property
    def repeating_events(self) -> Collection[str]: ...

    def frame_of(self, form: str) -> str: ...
    def events_of(self, form: str) -> Collection[str]: ...
    def is_repeating(self, form: str, event: str = "") -> bool: ...


@dataclass(frozen=True)
class _DictionaryShape:
    """A classic project known only by its dictionary (and its repeating forms)."""

    metadata: Sequence[Mapping[str, str]]
    repeating: frozenset[str]
    frame_names: Mapping[str, str] = field(default_factory=dict)
    longitudinal: bool = False
    events: Sequence[Any] = ()
    repeating_events: frozenset[str] = frozenset()

    @property
    def id_field(self) -> str:
        return self.metadata[0]["field_name"] if self.metadata else "record_id"

    @property
    def forms(self) -> list[str]:
        return list(dict.fromkeys(m["form_name"] for m in self.metadata))

    def frame_of(self, form: str) -> str:
        return self.frame_names.get(form, form)

    def events_of(self, form: str) -> frozenset[str]:
        return frozenset()

    def is_repeating(self, form: str, event: str = "") -> bool:
        return form in self.repeating


def shape_of(schema: Any, repeating: Iterable[str] | None = None,
             frame_names: Mapping[str, str] | None = None) -> Shape:
    """A schema as is; a dictionary (list of rows) as a classic project's shape."""
    if hasattr(schema, "frame_of") and hasattr(schema, "metadata"):
        return schema  # type: ignore[no-any-return]
    return _DictionaryShape(list(schema), frozenset(repeating or ()), dict(frame_names or {}))
