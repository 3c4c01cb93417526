"""Puts tools/ (where the `bench` package lives) on sys.path for the harness tests."""
import os
import sys

SOURCE_ROOT = os.environ.get("MTP_SOURCE_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
TOOLS = os.path.join(SOURCE_ROOT, "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)
