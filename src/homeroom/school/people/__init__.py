"""Getting people in and looking after them: enrolment, roster import, directory, privacy.

Design: docs/school.md#the-packages, docs/school.md#getting-people-in, docs/roster-import.md.
"""
