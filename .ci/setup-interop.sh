#!/usr/bin/env bash
# fastmcp 4.1.4 + fastmcp-tasks 4.1.4, the MCP-tasks interop peer of tests/test_mcp_tasks_interop.py, in their
# own locked environment (tests/interop): fastmcp-tasks needs redis<8.1, which frames-mcp's store does not allow.
set -euo pipefail
cd "$(dirname "$0")/../tests/interop"
uv sync --locked --quiet --compile-bytecode  # its processes start in every interop test (see .ci/run)
.venv/bin/python -c "import fastmcp, fastmcp_tasks; print('fastmcp', fastmcp.__version__)"
