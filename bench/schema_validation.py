"""How fast a client validates a finished 4-image result against each form of the output schema.

The Python SDK client checks every tool result against the tool's outputSchema with jsonschema. Three forms of
the same TaskResult constraints, each timed against the same structured content (from the demo simulator):
- pydantic's default: $defs with $ref, and `X | None` as anyOf [X, null] (the baseline);
- type arrays: $refs inlined, `X | None` as type [X, "null"] (what frames-mcp published before issue 13;
  MCP Inspector --strict warns on each as unportable);
- plain optional: $refs inlined, `X | None` as X, null fields left out of the result (published now).
Ratios are to the baseline measured in the same run. Writes its section of BENCHMARKS.md.

    uv run python -m bench.schema_validation [--no-write]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from typing import Any

import anyio
import jsonschema
from mcp import Client
from pydantic import create_model

from bench._report import machine, publish
from frames_mcp.config import Settings
from frames_mcp.server.app import build_server
from frames_mcp.server.results.schemas import TaskResult

START, END = "<!-- schema-validation:start -->", "<!-- schema-validation:end -->"
ROUNDS, CALLS = 7, 300


async def _published_and_result() -> tuple[dict[str, Any], dict[str, Any]]:
    async with Client(build_server(Settings(demo=True))) as c:
        tool = next(t for t in (await c.list_tools()).tools if t.name == "generate_frames")
        r = await c.call_tool("generate_frames", {"text_prompt": "a paper boat", "seed": 42, "preview": False})
    assert tool.output_schema is not None and r.structured_content is not None
    return tool.output_schema, r.structured_content


def _type_arrays(schema: Any) -> Any:
    """The published schema with each optional X turned back into type [X, "null"] (the former form)."""
    out = copy.deepcopy(schema)
    required = set(out.get("required", [])) if isinstance(out, dict) else set()
    for name, prop in (out.get("properties") or {}).items() if isinstance(out, dict) else []:
        out["properties"][name] = _type_arrays(prop)
        if name not in required and isinstance(prop.get("type"), str) and prop["type"] != "null":
            out["properties"][name]["type"] = [prop["type"], "null"]
    if isinstance(out, dict) and isinstance(out.get("items"), dict):
        out["items"] = _type_arrays(out["items"])
    return out


def _time(schema: dict[str, Any], instance: dict[str, Any]) -> float:
    """Median seconds per validation, with a validator built once (as a client caching it would)."""
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema)
    validator.validate(instance)
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS):
            validator.validate(instance)
        rounds.append((time.perf_counter() - started) / CALLS)
    return statistics.median(rounds)


def run() -> str:
    published, result = anyio.run(_published_and_result)
    # The same fields on a plain BaseModel: what pydantic publishes without CompactSchema.
    plain = create_model("TaskResult", **{n: (f.annotation, f) for n, f in TaskResult.model_fields.items()})  # type: ignore[call-overload]
    baseline_schema = plain.model_json_schema()
    forms = [
        ("pydantic default ($defs, anyOf null) - baseline", baseline_schema),
        ("type arrays (before issue 13; 31 Inspector --strict warnings)", _type_arrays(published)),
        ("plain optional, nulls left out (published now; no warnings)", published),
    ]
    timed = [(label, _time(schema, result)) for label, schema in forms]
    base = timed[0][1]
    rows = "\n".join(f"| {label} | {t * 1e6:.0f} us | {base / t:.2f}x |" for label, t in timed)
    return (
        f"{START}\n## Output-schema validation (bench/schema_validation.py)\n\n"
        "jsonschema validating one finished 4-image generate_frames result (structured content from the demo "
        "simulator) against three forms of the same TaskResult constraints; median of "
        f"{ROUNDS} rounds of {CALLS}. Speed-up is the baseline's time over the form's.\n\n"
        "| schema form | per validation | speed-up |\n| --- | --- | --- |\n"
        f"{rows}\n\nMachine: {machine('jsonschema', 'pydantic')}.\n{END}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    section = run()
    publish(section, START, END, write=not args.no_write)


if __name__ == "__main__":
    main()
