"""Connectors: one module per source wire format, plus the signed webhook gateway.

Each connector exposes a pure ``parse(raw: RawEnvelope) -> list[TrackingEvent]`` with its
status-code table as data, raising a typed error for bad input. Built in the connectors
issue; the package exists now so the layout is the architecture from the start.
"""
