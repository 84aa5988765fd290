"""Oura's OpenAPI 1.35 export, read at test time from `../shared` (never copied into
the repository), turned into JSON-schema validators for contract tests."""

from __future__ import annotations

import json
import os
from functools import cache, lru_cache
from pathlib import Path

import pytest

SPEC_PATH = Path(
    os.environ.get("OURA_OPENAPI_SPEC")
    or Path(__file__).resolve().parents[2] / "shared" / "oura" / "openapi-1.35.json"
)


@lru_cache(maxsize=1)
def spec() -> dict:
    """The spec, or a skip with the reason when it is not beside the checkout."""
    if not SPEC_PATH.exists():
        pytest.skip(f"Oura OpenAPI spec not found at {SPEC_PATH} (set OURA_OPENAPI_SPEC)")
    return json.loads(SPEC_PATH.read_text())


@cache
def validator(schema_name: str):
    """A Draft 2020-12 validator for `#/components/schemas/<schema_name>`."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(spec(), default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:oura-spec", resource)
    return Draft202012Validator(
        {"$ref": f"urn:oura-spec#/components/schemas/{schema_name}"}, registry=registry
    )


def response_schema_name(path: str) -> str:
    """The concrete 200 schema of a GET route (the first `anyOf` branch for lists)."""
    schema = spec()["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    ref = schema["anyOf"][0]["$ref"] if "anyOf" in schema else schema["$ref"]
    return ref.rsplit("/", 1)[-1]


# Where real payloads break the spec, the sandbox follows the payloads ("real data beats our
# beliefs"); the check allows exactly these deviations and nothing else.
# - daily_spo2: content-free days come as `"spo2_percentage": {"average": null}` too
#   (api-reference §12, ourabridge), though the spec's `average` is a required number.
SPO2_SCHEMAS = ("PublicDailySpO2", "MultiDocumentResponse_PublicDailySpO2_")


def without_known_deviations(schema_name: str, instance):
    """`instance` with the real-data deviations above put in their spec-valid form."""
    if schema_name not in SPO2_SCHEMAS:
        return instance
    docs = instance["data"] if schema_name != "PublicDailySpO2" else [instance]
    fixed = [
        {**doc, "spo2_percentage": None} if doc.get("spo2_percentage") == {"average": None} else doc
        for doc in docs
    ]
    return {**instance, "data": fixed} if schema_name != "PublicDailySpO2" else fixed[0]


def assert_valid(schema_name: str, instance) -> None:
    """Fail with every schema violation listed (but for the deviations real data show)."""
    instance = without_known_deviations(schema_name, instance)
    errors = sorted(validator(schema_name).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{schema_name}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:10]
    )
