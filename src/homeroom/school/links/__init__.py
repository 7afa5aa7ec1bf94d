"""What the school and the other components tell each other: the gate's attendance, live revocations."""
