"""Typed structured output: a pydantic model in, a validated instance out."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tunewise._errors import StructuredOutputError

T = TypeVar("T", bound=BaseModel)


def strict_json_schema(output_type: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the form OpenAI's strict mode accepts.

    Strict mode wants every object closed (``additionalProperties: false``) and every
    property listed in ``required``; optional fields stay optional by allowing ``null``.
    """
    schema = output_type.model_json_schema()

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            node.pop("default", None)  # strict mode rejects defaults
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for item in node:
                close(item)

    close(schema)
    return schema


def parse_structured(text: str, output_type: type[T], *, provider: str | None = None) -> T:
    """Validate a model's JSON answer into ``output_type``; one clear error otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        snippet = text[:80].replace("\n", " ")
        raise StructuredOutputError(
            f"answer is not valid JSON for {output_type.__name__} ({exc.msg} at char {exc.pos}): {snippet!r}",
            provider=provider,
        ) from None
    try:
        return output_type.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise StructuredOutputError(
            f"answer does not match {output_type.__name__}: {loc}: {first['msg']}",
            provider=provider,
        ) from None
