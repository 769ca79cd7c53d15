"""One shipment's state, and the pure reducer that applies a normalized event to it.

The state says, per planned leg, whether it is pending, active or closed and when (event
time), when it last showed life, whether a source-reported exception is outstanding and
the latest estimate of its closing; plus the delivery estimate, the events already
applied (duplicates collapse) and the alerts currently open. It is a pydantic model so
the faust table can keep it as JSON and the offline runner can print it.

Which leg an event belongs to: the leg whose ``opens_on``/``closes_on`` lists the
milestone; else the leg of the milestone's group when the plan has it (or the nearest
planned leg before it: a plan without an export-customs leg gives export events to the
leg that carries the goods then); exceptions and info go to the reporting party's leg
(the one in custody if that party runs several, else its latest begun one), else the leg
holding custody.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.alerts import Alert
from schemas.events import EventKind, TrackingEvent
from schemas.milestones import EXCEPTION_MILESTONES, Milestone, MilestoneGroup, group_of
from schemas.shipments import LEG_ORDER, Leg, PlannedLeg, ShipmentPlan

INFO_MILESTONES = frozenset({Milestone.INFO})
# the journey ends without a delivery: nothing more is expected from any leg
ENDING_EXCEPTIONS = frozenset({Milestone.LOST, Milestone.RETURNED, Milestone.CANCELLED})
# trouble that later progress does not undo: goods delivered damaged are still damaged
STICKY_EXCEPTIONS = frozenset({Milestone.DAMAGED})


class LegStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    CLOSED = "closed"


class Mark(BaseModel):
    """A moment and the event that set it."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    event_id: str
    milestone: Milestone


class Estimate(BaseModel):
    model_config = ConfigDict(frozen=True)

    estimated_at: datetime
    issued_at: datetime
    event_id: str


class LegProgress(BaseModel):
    leg: Leg
    status: LegStatus = LegStatus.PENDING
    opened: Mark | None = None
    closed: Mark | None = None
    last_activity: Mark | None = None
    last_progress: Mark | None = None
    exception: Mark | None = None
    exception_reason: str | None = None
    close_estimate: Estimate | None = None
    reopened: Mark | None = None


class ShipmentState(BaseModel):
    plan: ShipmentPlan
    legs: dict[Leg, LegProgress]
    delivered: Mark | None = None
    abandoned: Mark | None = Field(
        default=None, description="The latest lost, returned or cancelled report"
    )
    delivery_estimate: Estimate | None = None
    applied_event_ids: list[str] = Field(default_factory=list)
    clock: datetime | None = Field(
        default=None, description="Event time up to which this shipment is evaluated"
    )
    open_alerts: dict[str, Alert] = Field(default_factory=dict)
    alert_revisions: dict[str, int] = Field(default_factory=dict)
    breaches: dict[str, tuple[str, str, str]] = Field(
        default_factory=dict,
        description="Every responsibility breach ever alerted: alert id -> (rule, party "
        "role, party id) as last published (for scorecards; resolved ones stay)",
    )

    @property
    def shipment_id(self) -> str:
        return self.plan.shipment_id

    def progress(self, leg: Leg) -> LegProgress:
        return self.legs[leg]

    def planned(self, leg: Leg) -> PlannedLeg:
        planned = self.plan.planned_leg(leg)
        if planned is None:
            raise KeyError(leg)
        return planned

    def ended_without_delivery(self) -> datetime | None:
        """When the journey ended lost, returned or cancelled: the latest such report,
        unless a leg made progress after it (a parcel found again goes on)."""
        if self.abandoned is None:
            return None
        at = self.abandoned.at
        if any(p.last_progress is not None and p.last_progress.at > at for p in self.legs.values()):
            return None
        return at

    def custody_leg(self) -> Leg | None:
        """The leg holding the goods: the latest active leg, else the latest closed one."""
        active = [p.leg for p in self.legs.values() if p.status is LegStatus.ACTIVE]
        if active:
            return max(active, key=LEG_ORDER.__getitem__)
        closed = [p.leg for p in self.legs.values() if p.status is LegStatus.CLOSED]
        return max(closed, key=LEG_ORDER.__getitem__) if closed else None


def new_state(plan: ShipmentPlan) -> ShipmentState:
    return ShipmentState(plan=plan, legs={p.leg: LegProgress(leg=p.leg) for p in plan.legs})


def with_plan(state: ShipmentState, plan: ShipmentPlan) -> ShipmentState:
    """A newer plan revision: keep progress of legs still planned, add new ones."""
    legs = {p.leg: state.legs.get(p.leg) or LegProgress(leg=p.leg) for p in plan.legs}
    return state.model_copy(update={"plan": plan, "legs": legs})


def leg_of(state: ShipmentState, event: TrackingEvent) -> Leg:
    """The planned leg an event is about (see the module docstring for the rule)."""
    plan = state.plan
    for planned in plan.legs:
        if event.milestone in planned.opens_on or event.milestone in planned.closes_on:
            return planned.leg
    group = group_of(event.milestone)
    if group is not MilestoneGroup.RETURNS_EXCEPTIONS:
        return _nearest_planned(plan, Leg(group.value))
    custody = state.custody_leg()
    reporters = [p.leg for p in plan.legs if p.party.id == event.source.party.id]
    if custody in reporters:
        return custody  # the reporting party holds the goods now
    started = [leg for leg in reporters if state.legs[leg].status is not LegStatus.PENDING]
    if started:
        return started[-1]  # its latest leg that has begun
    if reporters:
        return reporters[0]
    return custody or plan.legs[0].leg


def _nearest_planned(plan: ShipmentPlan, leg: Leg) -> Leg:
    legs = [p.leg for p in plan.legs]
    if leg in legs:
        return leg
    earlier = [planned for planned in legs if LEG_ORDER[planned] < LEG_ORDER[leg]]
    return earlier[-1] if earlier else legs[0]


def apply_event(state: ShipmentState, event: TrackingEvent) -> ShipmentState:
    """The state after ``event``. Pure; an event already applied changes nothing."""
    if event.event_id in state.applied_event_ids:
        return state
    # copy what the step may change (legs, ids); the plan and the marks are never mutated
    state = state.model_copy(
        update={
            "legs": {leg: progress.model_copy() for leg, progress in state.legs.items()},
            "applied_event_ids": [*state.applied_event_ids, event.event_id],
        }
    )
    leg = leg_of(state, event)
    progress = state.legs[leg]
    mark = Mark(at=event.occurred_at, event_id=event.event_id, milestone=event.milestone)
    if event.kind is not EventKind.ACTUAL:
        _apply_estimate(state, progress, event)
        return state
    planned = state.planned(leg)
    if progress.last_activity is None or mark.at >= progress.last_activity.at:
        progress.last_activity = mark
    if event.milestone in ENDING_EXCEPTIONS and (
        state.abandoned is None or mark.at > state.abandoned.at
    ):
        state.abandoned = mark
    if event.milestone in EXCEPTION_MILESTONES:
        superseded = progress.last_progress is not None and progress.last_progress.at > mark.at
        older = progress.exception is not None and progress.exception.at > mark.at
        if not superseded and not older:
            progress.exception = mark  # the newest trouble, unless progress came after it
            progress.exception_reason = event.reason_code
    elif event.milestone not in INFO_MILESTONES:
        if progress.last_progress is None or mark.at >= progress.last_progress.at:
            progress.last_progress = mark
        if (
            progress.exception is not None
            and mark.at >= progress.exception.at
            and progress.exception.milestone not in STICKY_EXCEPTIONS
        ):
            progress.exception = None  # progress after the exception clears it
            progress.exception_reason = None
    if event.milestone in planned.closes_on:
        _close(progress, mark)
    elif event.milestone in planned.opens_on:
        _open(progress, mark, reopen=True)
    elif event.milestone not in INFO_MILESTONES and event.milestone not in EXCEPTION_MILESTONES:
        _open(progress, mark, reopen=False)
    # the journey ends with the final leg: a parcel's delivery to the buyer, or (for an
    # FBA or warehouse plan without a last mile) the final leg's closing milestone; a
    # carrier's "delivered" to a warehouse in the middle of a plan is a handoff, not the end
    final = state.plan.legs[-1]
    ends = (
        event.milestone is Milestone.DELIVERED
        if final.leg is Leg.LAST_MILE
        else event.milestone in final.closes_on
    )
    if leg is final.leg and ends and (state.delivered is None or mark.at < state.delivered.at):
        state.delivered = mark  # the earliest delivery reported, whatever order they came
    return state


def _open(progress: LegProgress, mark: Mark, *, reopen: bool) -> None:
    if progress.status is LegStatus.PENDING:
        progress.status = LegStatus.ACTIVE
        progress.opened = mark
    elif progress.opened is not None and mark.at < progress.opened.at:
        progress.opened = mark  # an earlier opening reported late
    if (
        reopen
        and progress.status is LegStatus.CLOSED
        and progress.closed is not None
        and mark.at > progress.closed.at
    ):
        progress.status = LegStatus.ACTIVE  # e.g. departed again after a transshipment
        progress.closed = None
        progress.reopened = mark


def _close(progress: LegProgress, mark: Mark) -> None:
    if progress.reopened is not None and mark.at < progress.reopened.at:
        return  # a close from before the leg reopened, reported late: already superseded
    if progress.opened is None:
        progress.opened = mark  # closed without an opening seen: zero known duration
    if progress.status is not LegStatus.CLOSED or (
        progress.closed is not None and mark.at < progress.closed.at
    ):
        progress.closed = mark
    progress.status = LegStatus.CLOSED


def _apply_estimate(state: ShipmentState, progress: LegProgress, event: TrackingEvent) -> None:
    if event.estimated_at is None:
        return
    estimate = Estimate(
        estimated_at=event.estimated_at, issued_at=event.occurred_at, event_id=event.event_id
    )
    if event.milestone is Milestone.DELIVERED and _newer(estimate, state.delivery_estimate):
        state.delivery_estimate = estimate
    planned = state.planned(progress.leg)
    if event.milestone in planned.closes_on and _newer(estimate, progress.close_estimate):
        progress.close_estimate = estimate


def _newer(candidate: Estimate, current: Estimate | None) -> bool:
    """The latest-issued estimate wins (ties broken by event id, so order never matters)."""
    if current is None:
        return True
    return (candidate.issued_at, candidate.event_id) > (current.issued_at, current.event_id)
