"""A whole deployment on one machine, described once: HAProxy, nodes, Redis Cluster, PgBouncer (docs/operations.md#the-deployment)."""
