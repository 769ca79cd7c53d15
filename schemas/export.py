"""JSON Schema files for every contract model, generated from the pydantic models.

``schemas/json/<Model>.schema.json`` is checked in so that non-Python producers and
consumers of the topics can validate against it; ``trackhub schema export`` rewrites the
files and ``trackhub schema export --check`` (and a test) fails when they drift.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from schemas.alerts import Alert
from schemas.common import SCHEMA_VERSION
from schemas.events import DeadLetter, RawEnvelope, TrackingEvent
from schemas.shipments import ShipmentPlan

JSON_DIR = Path(__file__).resolve().parent / "json"
SCHEMA_BASE_URI = "https://trackhub.dev/schemas"

EXPORTED_MODELS: tuple[type[BaseModel], ...] = (
    TrackingEvent,
    RawEnvelope,
    DeadLetter,
    ShipmentPlan,
    Alert,
)


class _ContractJsonSchema(GenerateJsonSchema):
    """Pydantic's generator, minus defaults that only mean "computed when absent".

    Ids such as ``event_id`` default to "" inside the model and are derived by a validator;
    the schema should say the field is optional and show its pattern, not a default of ""
    that its own pattern rejects.
    """

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        result = super().default_schema(schema)
        pattern = result.get("pattern")
        if result.get("default") == "" and pattern and not re.search(pattern, ""):
            result.pop("default")
        return result


def model_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one model, with ``$id`` and the schema version."""
    schema = model.model_json_schema(mode="validation", schema_generator=_ContractJsonSchema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE_URI}/v{SCHEMA_VERSION}/{model.__name__}.schema.json",
        **schema,
    }


def render_json_schemas() -> dict[str, str]:
    """File name -> file text for every exported model (stable, sorted, newline-terminated)."""
    return {
        f"{model.__name__}.schema.json": json.dumps(
            model_json_schema(model), indent=2, sort_keys=True, ensure_ascii=False
        )
        + "\n"
        for model in EXPORTED_MODELS
    }


def export_json_schemas(out_dir: Path = JSON_DIR) -> list[Path]:
    """Write every schema file into ``out_dir`` and return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_json_schemas().items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def drifted_json_schemas(out_dir: Path = JSON_DIR) -> list[str]:
    """Names of schema files that are missing, differ from the models, or are left over."""
    expected = render_json_schemas()
    drift = [
        name
        for name, text in expected.items()
        if not (out_dir / name).is_file() or (out_dir / name).read_text(encoding="utf-8") != text
    ]
    if out_dir.is_dir():
        drift += sorted(p.name for p in out_dir.glob("*.schema.json") if p.name not in expected)
    return drift
