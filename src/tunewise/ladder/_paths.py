"""The files a ladder keeps in its output folder (shared by the climb and the report)."""

from __future__ import annotations

STATE_FILE = "state.json"
CONFIG_FILE = "config.json"
STORE_FILE = "runs.sqlite"
