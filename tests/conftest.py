"""Shared test helpers. Fakes live in hinedockd/testing.py (one place)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DATA = Path(__file__).resolve().parent / "data"


def fixture_json(name: str) -> Any:
    """Samples in tests/data (copies of shared/fixtures recorded from a real engine)."""
    return json.loads((DATA / name).read_text())


def fixture_events() -> list[Any]:
    lines = (DATA / "events-engine20.10.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def docker_url() -> str | None:
    return os.environ.get("HINEDOCK_TEST_DOCKER")
