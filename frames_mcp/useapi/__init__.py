"""The upstream: an async client for useapi.net's Runway v1 API, its errors, its vocabulary and its id forms.

Imports nothing from mcp, nor from the other packages of frames_mcp: everything else builds on it.
"""
