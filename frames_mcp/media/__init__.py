"""Image bytes: downloads (streamed, size-capped, sniffed), the URL guard, the contact sheet, saving to the output
directory, and the sources of reference uploads.

Imports useapi/ errors and ids only; no mcp, no jobs, no server.
"""
