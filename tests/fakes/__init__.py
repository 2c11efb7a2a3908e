"""Stand-ins for external services (real servers on loopback, not mocks)."""
