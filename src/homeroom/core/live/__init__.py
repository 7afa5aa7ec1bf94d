"""The live class without I/O: commands, the room's state machine, its journal (docs/live.md)."""
