"""Helpers for the JSON schemas the API publishes."""

from __future__ import annotations

from typing import Any


def inline_definitions(schema: dict[str, Any]) -> Any:
    """``schema`` with every ``#/$defs/...`` reference replaced by its definition.

    django-ninja publishes request bodies given through ``openapi_extra`` as they are; a
    pydantic schema's ``$defs`` would then point nowhere in the OpenAPI document.
    """
    definitions = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return walk(definitions[reference.removeprefix("#/$defs/")])
            return {key: walk(value) for key, value in node.items() if key != "$defs"}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(schema)
