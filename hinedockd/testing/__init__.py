"""Fakes for what cannot run here (Hinemos) or won't fail on demand (an engine that
cuts or stalls its streams), kept in one place. They stand alone: each server is an
async context manager on a loopback port, and needs nothing beyond this package
(its recorded samples are package data). `python -m hinedockd.testing fake-engine`
serves the fake engine for the benchmarks."""

from hinedockd.testing.container import FakeContainer
from hinedockd.testing.engine import FakeEngine
from hinedockd.testing.server import FakeServer

__all__ = ["FakeContainer", "FakeEngine", "FakeServer"]
