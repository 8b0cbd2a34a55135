"""Misuse episodes (filled in by the misuse library)."""

from __future__ import annotations


def start_misuse(env, ctx) -> list:
    return []
