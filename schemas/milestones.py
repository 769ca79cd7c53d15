"""The milestone taxonomy: one flat list of codes, each belonging to one group.

Groups follow the legs of a cross-border journey (first mile, export customs, line haul,
import customs, warehouse, last mile) plus returns and exceptions. Every source's status
codes map onto these milestones through its connector's table; a code the table does not
know maps to ``INFO`` so nothing a carrier says is dropped.

Codes are stable strings (they travel on Kafka and in the JSON Schema); add new members,
never rename or reuse one.
"""

from __future__ import annotations

from enum import StrEnum


class MilestoneGroup(StrEnum):
    FIRST_MILE = "first_mile"
    EXPORT_CUSTOMS = "export_customs"
    LINE_HAUL = "line_haul"
    IMPORT_CUSTOMS = "import_customs"
    WAREHOUSE = "warehouse"
    LAST_MILE = "last_mile"
    RETURNS_EXCEPTIONS = "returns_exceptions"


class Milestone(StrEnum):
    # first mile: seller's warehouse to the forwarder's origin hub
    BOOKED = "booked"
    PICKED_UP = "picked_up"
    RECEIVED_AT_ORIGIN_HUB = "received_at_origin_hub"
    DEPARTED_ORIGIN = "departed_origin"
    # export customs
    EXPORT_CUSTOMS_SUBMITTED = "export_customs_submitted"
    EXPORT_CUSTOMS_HELD = "export_customs_held"
    EXPORT_CUSTOMS_CLEARED = "export_customs_cleared"
    # line haul: air, ocean, rail or truck between countries
    LINE_HAUL_LOADED = "line_haul_loaded"
    LINE_HAUL_DEPARTED = "line_haul_departed"
    LINE_HAUL_ARRIVED = "line_haul_arrived"
    TRANSSHIPPED = "transshipped"
    LINE_HAUL_UNLOADED = "line_haul_unloaded"
    # import customs
    IMPORT_CUSTOMS_SUBMITTED = "import_customs_submitted"
    IMPORT_CUSTOMS_ACCEPTED = "import_customs_accepted"
    IMPORT_CUSTOMS_HELD = "import_customs_held"
    IMPORT_CUSTOMS_INSPECTION = "import_customs_inspection"
    IMPORT_CUSTOMS_DOCUMENTS_REQUESTED = "import_customs_documents_requested"
    IMPORT_CUSTOMS_DUTIES_DUE = "import_customs_duties_due"
    IMPORT_CUSTOMS_DUTIES_PAID = "import_customs_duties_paid"
    IMPORT_CUSTOMS_RELEASED = "import_customs_released"
    IMPORT_CUSTOMS_REJECTED = "import_customs_rejected"
    IMPORT_CUSTOMS_SEIZED = "import_customs_seized"
    # warehouse: overseas warehouse or FBA centre
    WAREHOUSE_RECEIVED = "warehouse_received"
    WAREHOUSE_STOCKED = "warehouse_stocked"
    WAREHOUSE_ORDER_PICKED = "warehouse_order_picked"
    WAREHOUSE_DISPATCHED = "warehouse_dispatched"
    # last mile: local carrier to the buyer
    CARRIER_RECEIVED = "carrier_received"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_ATTEMPTED = "delivery_attempted"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERED = "delivered"
    # returns and exceptions
    EXCEPTION = "exception"
    DAMAGED = "damaged"
    LOST = "lost"
    RETURN_TO_SENDER = "return_to_sender"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    INFO = "info"


MILESTONE_GROUP: dict[Milestone, MilestoneGroup] = {
    Milestone.BOOKED: MilestoneGroup.FIRST_MILE,
    Milestone.PICKED_UP: MilestoneGroup.FIRST_MILE,
    Milestone.RECEIVED_AT_ORIGIN_HUB: MilestoneGroup.FIRST_MILE,
    Milestone.DEPARTED_ORIGIN: MilestoneGroup.FIRST_MILE,
    Milestone.EXPORT_CUSTOMS_SUBMITTED: MilestoneGroup.EXPORT_CUSTOMS,
    Milestone.EXPORT_CUSTOMS_HELD: MilestoneGroup.EXPORT_CUSTOMS,
    Milestone.EXPORT_CUSTOMS_CLEARED: MilestoneGroup.EXPORT_CUSTOMS,
    Milestone.LINE_HAUL_LOADED: MilestoneGroup.LINE_HAUL,
    Milestone.LINE_HAUL_DEPARTED: MilestoneGroup.LINE_HAUL,
    Milestone.LINE_HAUL_ARRIVED: MilestoneGroup.LINE_HAUL,
    Milestone.TRANSSHIPPED: MilestoneGroup.LINE_HAUL,
    Milestone.LINE_HAUL_UNLOADED: MilestoneGroup.LINE_HAUL,
    Milestone.IMPORT_CUSTOMS_SUBMITTED: MilestoneGroup.IMPORT_CUSTOMS,
    Milestone.IMPORT_CUSTOMS_ACCEPTED: MilestoneGroup.IMPORT_CUSTOMS,
    Milestone.IMPORT_CUSTOMS_HELD: MilestoneGroup.IMPORT_CUSTOMS,
    Milestone.IMPORT_CUSTOMS_INSPECTION: MilestoneGroup.IMPORT_CUSTOMS,
    Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED: MilestoneGroup.IMPORT_CUSTOMS,
    Milestone.IMPORT_CUSTOMS_DUTIES_DUE: MilestoneGroup.IMPORT_CUSTOMS,
    Milestone.IMPORT_CUSTOMS_DUTIES_PAID: MilestoneGroup.IMPORT_CUSTOMS,
    Milestone.IMPORT_CUSTOMS_RELEASED: MilestoneGroup.IMPORT_CUSTOMS,
    Milestone.IMPORT_CUSTOMS_REJECTED: MilestoneGroup.IMPORT_CUSTOMS,
    Milestone.IMPORT_CUSTOMS_SEIZED: MilestoneGroup.IMPORT_CUSTOMS,
    Milestone.WAREHOUSE_RECEIVED: MilestoneGroup.WAREHOUSE,
    Milestone.WAREHOUSE_STOCKED: MilestoneGroup.WAREHOUSE,
    Milestone.WAREHOUSE_ORDER_PICKED: MilestoneGroup.WAREHOUSE,
    Milestone.WAREHOUSE_DISPATCHED: MilestoneGroup.WAREHOUSE,
    Milestone.CARRIER_RECEIVED: MilestoneGroup.LAST_MILE,
    Milestone.IN_TRANSIT: MilestoneGroup.LAST_MILE,
    Milestone.OUT_FOR_DELIVERY: MilestoneGroup.LAST_MILE,
    Milestone.DELIVERY_ATTEMPTED: MilestoneGroup.LAST_MILE,
    Milestone.AVAILABLE_FOR_PICKUP: MilestoneGroup.LAST_MILE,
    Milestone.DELIVERED: MilestoneGroup.LAST_MILE,
    Milestone.EXCEPTION: MilestoneGroup.RETURNS_EXCEPTIONS,
    Milestone.DAMAGED: MilestoneGroup.RETURNS_EXCEPTIONS,
    Milestone.LOST: MilestoneGroup.RETURNS_EXCEPTIONS,
    Milestone.RETURN_TO_SENDER: MilestoneGroup.RETURNS_EXCEPTIONS,
    Milestone.RETURNED: MilestoneGroup.RETURNS_EXCEPTIONS,
    Milestone.CANCELLED: MilestoneGroup.RETURNS_EXCEPTIONS,
    Milestone.INFO: MilestoneGroup.RETURNS_EXCEPTIONS,
}

# Milestones that report a problem rather than progress: the exception detector opens an
# alert on these. Customs holds are here because a hold needs someone to act.
EXCEPTION_MILESTONES: frozenset[Milestone] = frozenset(
    {
        Milestone.EXPORT_CUSTOMS_HELD,
        Milestone.IMPORT_CUSTOMS_HELD,
        Milestone.IMPORT_CUSTOMS_INSPECTION,
        Milestone.IMPORT_CUSTOMS_DOCUMENTS_REQUESTED,
        Milestone.IMPORT_CUSTOMS_DUTIES_DUE,
        Milestone.IMPORT_CUSTOMS_REJECTED,
        Milestone.IMPORT_CUSTOMS_SEIZED,
        Milestone.DELIVERY_ATTEMPTED,
        Milestone.EXCEPTION,
        Milestone.DAMAGED,
        Milestone.LOST,
        Milestone.RETURN_TO_SENDER,
        Milestone.RETURNED,
        Milestone.CANCELLED,
    }
)

# Milestones after which nothing more is expected for the shipment.
TERMINAL_MILESTONES: frozenset[Milestone] = frozenset(
    {Milestone.DELIVERED, Milestone.LOST, Milestone.RETURNED, Milestone.CANCELLED}
)


def group_of(milestone: Milestone) -> MilestoneGroup:
    """The group (leg, or returns/exceptions) a milestone belongs to."""
    return MILESTONE_GROUP[milestone]


def milestones_in(group: MilestoneGroup) -> list[Milestone]:
    """The milestones of one group, in taxonomy order."""
    return [m for m in Milestone if MILESTONE_GROUP[m] is group]
