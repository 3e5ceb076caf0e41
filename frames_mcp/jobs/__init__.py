"""One generation end to end: admission per account, create (and recovery of an ambiguous one), the budgeted
wait with its poll schedule, and the ledger of the tasks this server knows.

Imports useapi/ only; no mcp, no media, no server: the MCP surface turns its events and runs into messages.
"""
