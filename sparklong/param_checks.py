"""The checks behind every setter: a ValueError naming the param and the values it allows.

They import nothing, so the Arrow runtime (udfs/) checks engine settings with them without pyspark's
Params; params.py and the annotators use the same two functions.
"""
from __future__ import annotations

from typing import Sequence


def check_range(name: str, value, low, high) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def check_choice(name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
