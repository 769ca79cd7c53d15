"""The common, versioned contract of the hub: pydantic v2 models and the milestone taxonomy.

No I/O here. JSON Schema files generated from these models live in ``schemas/json/``.
"""

from schemas.alerts import Alert, AlertState, AlertType, Evidence, HandoffRef, Severity
from schemas.common import (
    SCHEMA_VERSION,
    Identifier,
    IdentifierKind,
    Location,
    Party,
    PartyRole,
    normalize_identifier,
)
from schemas.events import (
    DeadLetter,
    DeadLetterStage,
    EventKind,
    EventSource,
    RawEnvelope,
    TrackingEvent,
)
from schemas.milestones import Milestone, MilestoneGroup, group_of
from schemas.shipments import (
    Handoff,
    IntegrationModel,
    Lane,
    Leg,
    PlannedLeg,
    ShipmentPlan,
    Sla,
    TransportMode,
)

__all__ = [
    "SCHEMA_VERSION",
    "Alert",
    "AlertState",
    "AlertType",
    "DeadLetter",
    "DeadLetterStage",
    "EventKind",
    "EventSource",
    "Evidence",
    "Handoff",
    "HandoffRef",
    "Identifier",
    "IdentifierKind",
    "IntegrationModel",
    "Lane",
    "Leg",
    "Location",
    "Milestone",
    "MilestoneGroup",
    "Party",
    "PartyRole",
    "PlannedLeg",
    "RawEnvelope",
    "Severity",
    "ShipmentPlan",
    "Sla",
    "TrackingEvent",
    "TransportMode",
    "group_of",
    "normalize_identifier",
]
