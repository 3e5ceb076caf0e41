"""The reference server of the core benchmarks: a bare MCPServer with one echo tool, on the same SDK, over stdio.

python bench/bare_server.py
"""

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("bare")


@mcp.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


if __name__ == "__main__":
    mcp.run("stdio")
