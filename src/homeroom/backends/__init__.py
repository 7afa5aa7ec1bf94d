"""Backends: narrow protocols with their guarantees, one implementation per engine (docs/architecture.md)."""
