"""Getting people in and looking after them: enrolment, roster import, directory, privacy."""
