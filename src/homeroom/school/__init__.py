"""The school workspace: académies, schools, classes, people and roles, timetable (issue #3).

Its packages and what each may import: docs/school.md#the-packages.
"""
