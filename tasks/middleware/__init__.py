"""Cross-cutting worker behaviour, one :class:`dramatiq.Middleware` per module."""
