"""Adversarial detectors: each tries one route to the truth (tests/test_redteam.py)."""
