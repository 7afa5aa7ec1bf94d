"""The school's JSON API under /api/v1, its OpenAPI document, and what the gate asks of the school."""
