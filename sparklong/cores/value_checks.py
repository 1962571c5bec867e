"""The checks every param value goes through, as a ValueError naming the param and what it allows.
Spark-free, so the cores validate their own settings with the same messages as the Params setters
(params.py re-exports both)."""
from __future__ import annotations

from typing import Sequence


def check_range(name: str, value, low, high) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def check_choice(name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
