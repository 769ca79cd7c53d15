"""The OpenAPI 3.1 document of the seller API, generated from ``hub.api.OPERATIONS``.

Schemas come from the same pydantic models the handlers validate requests with and build
answers from (``models_json_schema``), so the document and the API cannot disagree.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from hub.api_models import ErrorBody

if TYPE_CHECKING:
    from hub.api import Operation

REF = "#/components/schemas/{model}"
ERROR_TEXT = {
    400: "Bad request (query or JSON)",
    401: "Missing, unknown or revoked API key",
    404: "Not found (or not yours)",
    409: "Conflict with a registered shipment",
    413: "Request body too large",
    415: "Content-Type is not application/json",
    422: "The body is JSON but not valid",
    429: "Rate limit exceeded; see Retry-After",
    503: "Storage unavailable, nothing written; see Retry-After",
}


def _schemas(operations: tuple[Operation, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Component schemas and, per (model, mode), the reference to use."""
    wanted: list[tuple[type[BaseModel], Any]] = [(ErrorBody, "serialization")]
    for op in operations:
        if op.request is not None:
            wanted.append((op.request, "validation"))
        wanted += [(m, "serialization") for m in op.responses.values() if m is not None]
    unique = list(dict.fromkeys(wanted))
    refs, defs = models_json_schema(unique, ref_template=REF)
    return refs, defs.get("$defs", {})


def openapi_document(operations: tuple[Operation, ...]) -> dict[str, Any]:
    refs, components = _schemas(operations)
    error_ref = refs[(ErrorBody, "serialization")]
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", op.path)
        ]
        for q in op.query:
            schema: dict[str, Any] = (
                {"type": "integer", "minimum": 1, "maximum": 200}
                if (q.integer)
                else {"type": "string"}
            )
            if q.enum:
                schema["enum"] = list(q.enum)
            if q.pattern:
                schema["pattern"] = q.pattern
            parameters.append(
                {
                    "name": q.name,
                    "in": "query",
                    "required": False,
                    "description": q.description,
                    "schema": schema,
                }
            )
        if op.stream:
            parameters.append(
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "description": "Resume after this event id",
                    "schema": {"type": "string", "pattern": r"^(0|\d+-\d+)$"},
                }
            )
        responses: dict[str, Any] = {}
        for status, model in op.responses.items():
            if op.stream:
                responses[str(status)] = {
                    "description": "An event stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                }
            elif model is None:
                responses[str(status)] = {"description": "Done, no content"}
            else:
                responses[str(status)] = {
                    "description": model.__doc__.strip().splitlines()[0]
                    if model.__doc__
                    else model.__name__,
                    "content": {"application/json": {"schema": refs[(model, "serialization")]}},
                }
        for status, target, parameter, expression in op.links:
            responses[str(status)].setdefault("links", {})[target] = {
                "operationId": target,
                "parameters": {parameter: expression},
            }
        for status in op.errors:
            responses[str(status)] = {
                "description": ERROR_TEXT[status],
                "content": {"application/json": {"schema": error_ref}},
            }
        operation: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "parameters": parameters,
            "responses": responses,
        }
        if op.request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.request, "validation")]}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trackhub seller API",
            "version": "1",
            "description": "Register shipments, read their state and alerts, stream alerts "
            "(SSE), subscribe webhooks and read party scorecards. Authenticate with "
            "`Authorization: Bearer <API key>` (`trackhub seller create`).",
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
        "paths": paths,
    }
