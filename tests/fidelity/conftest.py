"""The toy unit's project (tests/grading) for the harness tests."""

from tests.grading.conftest import toy_root  # noqa: F401 - a fixture, used by name
