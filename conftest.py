"""Loads the project's pytest plug-ins for every test, in tests/ and in src/jingan/**/tests/."""

pytest_plugins = [
    "jingan.testing.req",
    "jingan.testing.fixtures",
    "jingan.testing.browser",
    "jingan.testing.residents",
    "pytester",
]
