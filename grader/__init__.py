"""grader: evidence-based grading of TSSR practical exams on real candidate machines."""

__version__ = "0.1.0"
