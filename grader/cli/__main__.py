"""``python -m grader.cli``: the ``grader`` command without the installed script (the tests run it so)."""

from __future__ import annotations

from grader.cli import main

main()
