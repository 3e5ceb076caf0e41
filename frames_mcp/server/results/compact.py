"""Output schemas as clients validate them fastest: every $ref inlined, and an optional `X | None` as plain X.

The structured content is sent without null fields (`exclude_none`), so "absent" is the only way a value is
missing: the schema needs no null type, neither an anyOf branch (slow to validate) nor a type array (which
the MCP Inspector's --strict flags as unportable). bench/schema_validation.py measures the three forms."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


def _compact(schema: Any, handler: GetJsonSchemaHandler, inlining: frozenset[str] = frozenset()) -> Any:
    """The same JSON schema with every $ref inlined and an optional `X | None` written as X."""
    if isinstance(schema, list):
        return [_compact(item, handler, inlining) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in inlining:
            raise TypeError(f"{ref} refers to itself: a recursive model cannot be published inline")
        target = copy.deepcopy(handler.resolve_ref_schema({"$ref": ref}))
        return {**_compact(target, handler, inlining | {ref}), **{k: v for k, v in schema.items() if k != "$ref"}}
    out = {k: _compact(v, handler, inlining) for k, v in schema.items()}
    choices = out.get("anyOf")
    if isinstance(choices, list) and len(choices) == 2 and {"type": "null"} in choices:
        (other,) = [c for c in choices if c != {"type": "null"}]
        del out["anyOf"]
        if out.get("default", ...) is None:
            del out["default"]  # absent is the default
        out = {**{k: v for k, v in other.items() if k != "title"}, **out}
    return out


# A compact schema holds no $ref, so it does not depend on the generation it was made in: made once per model
# and generator, it is copied for every other tool that returns the model (three return TaskResult), which
# keeps the start short (BENCHMARKS.md compares it with a bare MCPServer's).
_made: dict[tuple[type[BaseModel], type[Any], str, bool], JsonSchemaValue] = {}


class Deferred(BaseModel):
    """An output model built at its first use, not at every start: the tools' output schemas come from
    declarations.json."""

    model_config = ConfigDict(defer_build=True)


class CompactSchema(Deferred):
    """Publishes a schema with no $defs and no null types: the same constraints, which a client checks every
    result against (the Python SDK client, with jsonschema, where $ref resolution and anyOf branches
    dominate). Results of these models must be sent with `exclude_none` (TaskResult.wire(), lists.py)."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        generator = getattr(handler, "generate_json_schema", None)
        key = (cls, type(generator), handler.mode, bool(getattr(generator, "by_alias", True)))
        if key in _made:
            return copy.deepcopy(_made[key])
        schema = handler.resolve_ref_schema(handler(core_schema))
        compact = _compact(schema, handler)
        schema.clear()
        schema.update(compact)
        _made[key] = copy.deepcopy(schema)
        return schema
