"""The live gateway: WebSocket connections to rooms, in a process of its own (docs/live.md)."""
