"""Request and response bodies of the seller API (``/v1``).

The handlers build their answers from these models and ``hub.api_openapi`` generates the
OpenAPI document from the same models, so the document cannot drift from the answers.
Contract models (``ShipmentPlan``, ``Alert``, ``TrackingEvent``) are used as they are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from schemas.alerts import Alert, AlertType
from schemas.events import TrackingEvent
from schemas.shipments import Lane, ShipmentPlan


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorDetail(ApiModel):
    code: str = Field(description="Stable machine-readable code, e.g. 'not_found'")
    message: str = Field(description="What went wrong, for a person")
    request_id: str = Field(description="Quote it when asking for help")


class ErrorBody(ApiModel):
    error: ErrorDetail


ShipmentStatus = Literal["registered", "in_transit", "delivered", "exception"]


class ShipmentSummary(ApiModel):
    shipment_id: str
    status: ShipmentStatus
    integration_model: str | None
    lane: Lane | None
    active_leg: str | None = Field(description="The leg in progress, if any")
    promised_delivery_at: datetime | None
    open_alerts: int = Field(ge=0)


class ShipmentPage(ApiModel):
    items: list[ShipmentSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


class ShipmentDetail(ApiModel):
    shipment_id: str
    status: ShipmentStatus
    plan: ShipmentPlan
    state: dict[str, Any] | None = Field(
        description="Legs (status, opened, closed, last activity), delivery, estimate, "
        "open alerts, as the hub last evaluated them; null before its first evaluation"
    )
    timeline: list[TrackingEvent] = Field(description="Normalized events, by occurred_at")


class RegisterResult(ApiModel):
    shipment_id: str
    revision: int
    result: Literal["created", "revised", "unchanged"]


class AlertPage(ApiModel):
    items: list[Alert]
    next_cursor: str | None


class SubscriptionRequest(ApiModel):
    url: Annotated[str, StringConstraints(min_length=8, max_length=2048)] = Field(
        description="https URL the alerts are POSTed to (Standard Webhooks)"
    )
    alert_types: list[AlertType] = Field(
        default_factory=list, max_length=len(AlertType), description="Empty: every type"
    )


class SubscriptionView(ApiModel):
    subscription_id: str
    url: str
    alert_types: list[AlertType]
    created_at: AwareDatetime
    disabled_at: AwareDatetime | None
    disabled_reason: str | None


class SubscriptionCreated(SubscriptionView):
    secret: str = Field(description="The signing secret (whsec_...): shown this once")


class SubscriptionList(ApiModel):
    items: list[SubscriptionView]


class ScorecardRow(ApiModel):
    party_role: str
    party_id: str
    lane: str
    shipments: int = Field(ge=0)
    legs_judged: int = Field(ge=0)
    legs_on_time: int = Field(ge=0)
    on_time_pct: float | None
    breaches: dict[str, int]
    leg_duration_p50_h: float | None
    leg_duration_p90_h: float | None


class ScorecardList(ApiModel):
    items: list[ScorecardRow]
