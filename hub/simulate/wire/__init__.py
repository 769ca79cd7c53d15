"""Wire encoders: what a party's system would send us, built from simulated events.

Each module here encodes ``WireEvent`` values into one source format's payload, the
reverse of the connector of the same name (``connectors/<format>.py``). The contract,
checked by a round-trip test per format: the connector parses the payload back into
events with the same milestone, the same instant (``occurred_at``), the same primary
identifier and the same reporting party. A format declares the milestones it can carry
(``SUPPORTED``); the simulator only asks a format for those.

Module interface (every encoder)::

    FORMAT: str                        # the connector name, e.g. "x12_214"
    CONTENT_TYPE: str                  # what the gateway expects for it
    SUPPORTED: frozenset[Milestone]
    def encode(events: Sequence[WireEvent], *, reference: str) -> bytes

``reference`` is unique per payload (a message id, interchange control number, ...).
All ``events`` of one call concern one shipment and one reporting party.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType

from schemas.common import Identifier, Location, Party
from schemas.milestones import Milestone


@dataclass(frozen=True)
class WireEvent:
    """One thing a party reports, before it is put in the party's format."""

    milestone: Milestone
    occurred_at: datetime  # aware; encoders keep the instant (the offset may be local)
    identifiers: tuple[Identifier, ...]  # the first is the one the party tracks it by
    party: Party
    location: Location | None = None
    reason: str | None = None  # free text for holds and exceptions ("documents missing")
    # a prediction (DCSA EST, a carrier's ETA): occurred_at is the predicted time, and
    # extra["issued_at"] (ISO) when it was made
    estimated: bool = False
    extra: dict[str, str] = field(default_factory=dict)  # format hints, e.g. flight number


ENCODER_MODULES: dict[str, str] = {
    "easypost": "hub.simulate.wire.easypost",
    "aftership": "hub.simulate.wire.aftership",
    "17track": "hub.simulate.wire.seventeen_track",
    "dcsa": "hub.simulate.wire.dcsa",
    "iata_fsu": "hub.simulate.wire.iata_fsu",
    "x12_214": "hub.simulate.wire.x12_214",
    "epcis": "hub.simulate.wire.epcis",
    "customs": "hub.simulate.wire.customs",
    "native": "hub.simulate.wire.native",
}


def encoder(format_name: str) -> ModuleType:
    """The encoder module of a format (KeyError for a format without one)."""
    return importlib.import_module(ENCODER_MODULES[format_name])
