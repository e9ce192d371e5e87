"""Simulators of the external systems Tollgate talks to, faithful to integrations.md, faults included."""
