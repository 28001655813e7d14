"""Ports to external systems: adapters and the simulators that speak the same protocol."""
