"""The test harness: pytest plug-ins for requirement markers, browsers and live servers.

Loaded by the repository's root ``conftest.py``; not used by the running platform.
"""
