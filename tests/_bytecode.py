"""Loaded first (`-p tests._bytecode` in pyproject): the suite caches compiled and assertion-rewritten modules
even where PYTHONDONTWRITEBYTECODE is set, as on this project's CI machines.

Without the cache every xdist worker rewrites the test modules and the plugins' packages afresh (about 4 s of
CPU each, on a 2-core machine that starts 4 workers at once), and every module this process imports from source
is compiled again in each server subprocess. The cache lives in the usual __pycache__ folders (git-ignored)."""

import sys

sys.dont_write_bytecode = False
