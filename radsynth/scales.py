"""Scale presets (``config/scales/<scale>.yaml``): merged under the user's config, and the
limits a preset puts on sizes whatever the user's config or the dataset says.

A preset's ``limits`` block maps dotted config keys to upper bounds. ``tiny`` uses it so that a
user who tries a config of their own data at ``scale=tiny`` gets the whole DAG in minutes: a
96-pixel ``preprocess.size`` or 6,000 iterations from a paper preset become 32 pixels and the
preset's short schedule.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """``override`` on top of ``base``, recursively for dicts (new dict, inputs untouched)."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _capped(value, cap):
    """A number, or each number of a list, no larger than ``cap``; other values unchanged."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return min(value, cap)
    if isinstance(value, list):
        return [_capped(item, cap) for item in value]
    return value


def apply_limits(config: Mapping, limits: Mapping[str, int | float | None]) -> tuple[dict, list[str]]:
    """The config with every limited key at most its limit.

    Args:
        config: the merged config (schema defaults filled in, so defaults are limited too).
        limits: dotted key (``"preprocess.size"``) -> upper bound for the number, or for each
            number of a list (sizes, channel widths); None unsets the key (a schedule given in
            epochs falls back to the limited iterations). A key whose section is absent or
            null (``diffusion.latent`` off) is skipped.

    Returns:
        ``(limited config, ["key: old -> new", ...])`` for the keys that changed.
    """
    limited, changes = copy.deepcopy(dict(config)), []
    for dotted, cap in limits.items():
        *parents, leaf = dotted.split(".")
        section = limited
        for key in parents:
            section = section.get(key) if isinstance(section, dict) else None
        if not isinstance(section, dict) or leaf not in section:
            continue
        old = section[leaf]
        new = None if cap is None else _capped(old, cap)
        if new != old:
            section[leaf] = new
            changes.append(f"{dotted}: {old} -> {new}")
    return limited, changes
