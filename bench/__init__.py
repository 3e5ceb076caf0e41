"""frames-mcp benchmarks: `uv run python -m bench` (core figures; see bench/core.py)."""
