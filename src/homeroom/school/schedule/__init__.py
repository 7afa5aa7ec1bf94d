"""When classes happen: timetable slots made into dated sessions, and the iCalendar feed.

Design: docs/school.md#the-packages.
"""
