"""The school's server-rendered pages: sign-in, dashboards, people, the live class; their words and templates."""
