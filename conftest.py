"""Fixtures for every test suite in this repository (tests/, plugins/*/tests): see tunewise.testing.pytest_plugin."""

pytest_plugins = ["tunewise.testing.pytest_plugin"]
