"""Tools that drive a running deployment from outside, as its users would (docs/architecture.md#the-recorder)."""
