"""The gate as a service: HTTP endpoints, the waiting page and route protection (docs/gate.md)."""
