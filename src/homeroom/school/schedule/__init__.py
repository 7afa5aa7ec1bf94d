"""When classes happen: weekly timetable slots made into dated sessions, and the iCalendar feed."""
