"""Shared fixtures of the project's own tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest


@pytest.fixture(autouse=True)
def _camp_home(tmp_path, monkeypatch):
    """Keep check results and quiz history of every test in its own temporary folder."""
    monkeypatch.setenv("CAMP_HOME", str(tmp_path / "camp-home"))
