"""The school workspace: académies, schools, classes, people and roles, timetable (issue #3)."""
