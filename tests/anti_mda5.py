"""The anti-MDA5 registry's shape for tests: its profile over the synthetic dictionary.

Tests that tidy the synthetic registry by hand (without a pull) build its schema here,
exactly as the pipeline does from a snapshot: the dictionary, the repeating forms and
the registry profile in `registries/anti_mda5/`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from registry.profile import Profile, load_profile
from registry.schema import RegistrySchema, build_schema

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "registries" / "anti_mda5"
PROFILE = FOLDER / "profile.toml"  # = registry.sandbox.generator.PROFILE
SUITES = FOLDER / "expectations"
STUDY = FOLDER / "studies" / "jak_cni.toml"
REPEATING = ("treatments", "icu_stay", "infections")


def profile() -> Profile:
    return load_profile(PROFILE)


def schema(metadata: Sequence[Mapping[str, Any]] | Any,
           repeating: Iterable[str] = REPEATING, *,
           with_profile: bool = True) -> RegistrySchema:
    """The schema of the synthetic registry (a dictionary, or a SyntheticRegistry)."""
    if hasattr(metadata, "schema"):  # a SyntheticRegistry
        return metadata.schema(profile=with_profile)  # type: ignore[no-any-return]
    return build_schema(metadata, repeating=[{"form_name": f} for f in repeating],
                        profile=profile() if with_profile else None)
