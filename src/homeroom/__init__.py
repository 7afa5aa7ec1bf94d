"""homeroom: distance learning for a whole country's schools (see docs/architecture.md)."""

__version__ = "0.1.0"
