"""Helpers shared by the tests: sample messages and peer processes."""
