"""What the school, the gate and the live gateways tell each other: attendance, revocations.

Design: docs/school.md#the-packages, docs/gate.md#who-is-coming, docs/live.md#join.
"""
