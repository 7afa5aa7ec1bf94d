"""The school's server-rendered pages, their words and their templates.

Design: docs/school.md#pages and docs/school.md#the-packages.
"""
