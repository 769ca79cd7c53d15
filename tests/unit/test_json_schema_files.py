"""The checked-in JSON Schema files match the models and accept what the models write."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from schemas.export import (
    EXPORTED_MODELS,
    JSON_DIR,
    drifted_json_schemas,
    export_json_schemas,
    render_json_schemas,
)
from tests.factories import make_alert, make_dead_letter, make_envelope, make_event, make_plan


def test_checked_in_schema_files_match_the_models() -> None:
    drift = drifted_json_schemas(JSON_DIR)
    assert drift == [], f"run `trackhub schema export`: {drift} differ from the models"


def test_one_file_per_model_with_version_and_id() -> None:
    files = render_json_schemas()
    assert sorted(files) == sorted(f"{m.__name__}.schema.json" for m in EXPORTED_MODELS)
    for name, text in files.items():
        schema = json.loads(text)
        assert schema["$id"].endswith(f"/v1/{name}")
        assert schema["properties"]["schema_version"]["const"] == 1
        jsonschema.Draft202012Validator.check_schema(schema)


def test_drift_is_detected(tmp_path: Path) -> None:
    export_json_schemas(tmp_path)
    assert drifted_json_schemas(tmp_path) == []
    target = tmp_path / "TrackingEvent.schema.json"
    schema = json.loads(target.read_text())
    schema["properties"].pop("milestone")
    target.write_text(json.dumps(schema))
    (tmp_path / "Stale.schema.json").write_text("{}")
    (tmp_path / "Alert.schema.json").unlink()
    assert drifted_json_schemas(tmp_path) == [
        "TrackingEvent.schema.json",
        "Alert.schema.json",
        "Stale.schema.json",
    ]


@pytest.mark.parametrize(
    "instance",
    [make_event(), make_envelope(), make_dead_letter(), make_plan(), make_alert()],
    ids=lambda m: type(m).__name__,
)
def test_schema_files_accept_what_the_models_write(instance) -> None:
    schema = json.loads((JSON_DIR / f"{type(instance).__name__}.schema.json").read_text())
    jsonschema.validate(json.loads(instance.model_dump_json()), schema)


def test_schema_files_reject_what_the_models_reject() -> None:
    schema = json.loads((JSON_DIR / "TrackingEvent.schema.json").read_text())
    bad = json.loads(make_event().model_dump_json())
    bad["milestone"] = "teleported"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
