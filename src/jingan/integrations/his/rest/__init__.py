"""Dialect B: the HIS pushes vendor JSON to the platform's signed API (REST/JSON push)."""
