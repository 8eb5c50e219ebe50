"""Rubrics shipped with grader (the demo's) and the RC referential, as package data."""

from pathlib import Path

RUBRICS_DIR = Path(__file__).resolve().parent


def demo_rubric() -> Path:
    return RUBRICS_DIR / "demo.yaml"


def demo_roster() -> Path:
    return RUBRICS_DIR / "demo-roster.csv"
