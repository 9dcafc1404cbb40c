"""Tests of what the project ships: the wheel students install."""
