"""Fakes for what cannot run here (Hinemos) or won't fail on demand (an engine that
cuts or stalls its streams), kept in one place; and the helpers that make the real
parts (the busybox image) ready. `python -m hinedockd.testing fake-engine` serves
the fake engine for the benchmarks."""

from hinedockd.testing.engine import IMAGE, FakeContainer, FakeEngine, ensure_image

__all__ = ["IMAGE", "FakeContainer", "FakeEngine", "ensure_image"]
