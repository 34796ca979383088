"""hinedockd: Docker under Hinemos."""

__version__ = "0.1.0"
