"""JSON Schema of a rubric file (the part common to every check type).

Each check type adds its own schema for its options (see :mod:`grader.checks`); the loader
validates a check against the common part and then against its type's schema, so an error
names the file, the line and the field.
"""

from __future__ import annotations

from typing import Any

from ..model import EDITIONS

_PATTERNS: dict[str, Any] = {"type": "array", "items": {"type": "string", "minLength": 1}}
_EDITION: dict[str, Any] = {"enum": list(EDITIONS)}

DIAGNOSIS: dict[str, Any] = {
    "type": "object",
    "required": ["id", "feedback"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "feedback": {"type": "string", "minLength": 1},
        "mutant": {"type": "string"},
        "prose": _PATTERNS,
        "shapes": {"type": "boolean"},
        "execution": {
            "enum": ["out-of-order", "missing-module", "indentation-lost", "typographic-quotes"]
        },
        "predicate": {"const": True},
        "penalty": {"type": "number", "minimum": 0},
        "example": {"type": "string", "minLength": 1},
    },
    "oneOf": [
        {"required": ["mutant"]},
        {"required": ["prose"]},
        {"required": ["shapes"]},
        {"required": ["execution"]},
        {"required": ["predicate"]},
    ],
}

CHECK: dict[str, Any] = {
    "type": "object",
    "required": ["type", "points"],
    "properties": {
        "type": {"type": "string"},
        "points": {"type": "number", "minimum": 0},
        "name": {"type": "string"},
        "public": {"type": "boolean"},
        "editions": {"type": "array", "items": _EDITION, "minItems": 1},
        "feedback": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"pass": {"type": "string"}, "fail": {"type": "string"}},
        },
    },
}

EXERCISE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "title", "points", "checks"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "title": {"type": "string", "minLength": 1},
        "points": {"type": "number", "minimum": 0},
        "editions": {"type": "array", "items": _EDITION, "minItems": 1},
        "kind": {"enum": ["section", "exercise"]},
        "match": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "wording": _PATTERNS,
                "numbers": {
                    "type": "object",
                    "propertyNames": _EDITION,
                    "additionalProperties": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"},
                },
                "names": _PATTERNS,
            },
        },
        "checks": {"type": "array", "items": CHECK, "minItems": 1},
        "diagnoses": {"type": "array", "items": DIAGNOSIS},
    },
}

RUBRIC: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["rubric", "version", "title", "exercises"],
    "additionalProperties": False,
    "properties": {
        "rubric": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "version": {"type": ["string", "number"]},
        "title": {"type": "string"},
        "reference": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "editions": {
            "type": "object",
            "propertyNames": _EDITION,
            "additionalProperties": {
                "type": "object",
                "required": ["signals"],
                "additionalProperties": False,
                "properties": {"signals": _PATTERNS},
            },
        },
        "exercises": {"type": "array", "items": EXERCISE, "minItems": 1},
    },
}
