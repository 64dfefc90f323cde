"""A small in-memory Kubernetes API server for tests: kubectl, kopf and the client use it."""
