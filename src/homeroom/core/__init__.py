"""Sans-I/O decisions of homeroom: time and randomness go in, decisions come out (docs/architecture.md)."""
