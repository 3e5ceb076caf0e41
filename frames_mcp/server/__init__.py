"""The MCP surface: MCPServer and its lifespan (app.py), one module per group of tools, the gallery MCP App, the
HTTP transport, and results/ (output schemas, rendering within the size cap).

The only package that imports mcp (cli.py aside). It stays thin: validate, call jobs/, render.
"""
