"""The real payloads every mutation starts from: each format's fixtures."""

from __future__ import annotations

import functools

from connectors.registry import connector_names, get_connector
from tests.connector_cases import connector_cases


@functools.cache
def seed_bodies(format_name: str) -> tuple[bytes, ...]:
    """Every fixture payload of ``format_name`` (good and bad ones), in a stable order."""
    bodies = tuple(case.payload.read_bytes() for case in connector_cases(format_name))
    if not bodies:
        raise LookupError(f"no fixtures for format {format_name!r}")
    return bodies


def content_type(format_name: str) -> str:
    """The first content type the format's connector accepts (what a sender would use)."""
    return sorted(get_connector(format_name).content_types)[0]


def max_body_bytes(format_name: str) -> int:
    """The format's own body limit: the largest body the gateway could hand it."""
    return get_connector(format_name).max_body_bytes


FORMATS: tuple[str, ...] = tuple(connector_names())
