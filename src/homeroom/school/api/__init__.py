"""The school's JSON API under /api/v1, its OpenAPI document, and its answers to the gate.

Design: docs/api.md#school-api and docs/school.md#the-packages.
"""
