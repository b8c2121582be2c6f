"""lpm-guard: a gated platform for real-time portrait animation."""

__version__ = "0.1.0"
