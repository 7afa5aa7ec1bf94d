"""Coverage-guided fuzzing (atheris) of what turns client bytes into a room's input."""
