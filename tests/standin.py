"""What the REST stand-ins (``pve_standin``, ``grader/lab/glpi_standin``) and their graded-for-real tests share.

:func:`running` serves a stand-in on its own thread for a ``with`` block and always closes its
socket; :func:`stored_bytes` saves a graded host in a fresh store and returns every byte written,
for a test to prove that no secret reached it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.lab.standin import running

__all__ = ["running", "stored_bytes"]


def stored_bytes(tmp_path: Path, rubric: Any, report: Any) -> bytes:
    """Every byte the store wrote for a run of ``rubric`` holding ``report`` (candidate 7)."""
    from grader.roster import Candidate
    from grader.store import Store

    store = Store(tmp_path / "session")
    run_id = store.new_run(run_id="20261206-120000-ab12", rubric=rubric, roster_text="id\n7\n",
                           candidates=[Candidate("7")])
    store.save_host(run_id, report)
    store.close()
    return b"".join(p.read_bytes() for p in (tmp_path / "session").rglob("*") if p.is_file())
