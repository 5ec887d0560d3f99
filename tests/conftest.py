"""Shared test settings: hypothesis runs derandomized and without deadlines in CI."""

from hypothesis import settings

settings.register_profile("ci", deadline=None, derandomize=True, max_examples=30)
settings.load_profile("ci")
