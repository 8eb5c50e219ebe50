"""Helpers for the check packs' judge tests: captured command outputs as ProbeResults.

Captured outputs live in ``data/`` as text files::

    # origin: where and how it was captured (or which documentation it was written from)
    # command: the exact command
    # exit: 0
    # --- stdout
    <stdout>
    # --- stderr
    <stderr>
    # --- end

Each block is followed by exactly one newline before the next marker (so outputs that do
not end with a newline are kept exact).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the package is not installed: import checks/ and grader/ from the repo
    sys.path.insert(0, str(ROOT))

from grader.check import Check
from grader.model import ProbeResult, Verdict

DATA = Path(__file__).parent / "data"


def load_capture(name: str) -> ProbeResult:
    """A ProbeResult from a captured output file of ``data/``."""
    text = (DATA / name).read_text(encoding="utf-8")
    head, _, rest = text.partition("# --- stdout\n")
    stdout, _, rest = rest.partition("\n# --- stderr\n")
    stderr, _, _ = rest.partition("\n# --- end\n")
    meta = dict(line[2:].split(": ", 1) for line in head.splitlines() if line.startswith("# ") and ": " in line)
    assert "origin" in meta, f"{name}: every captured output states its origin"
    return ProbeResult(key="k", transport="ssh", command=meta.get("command", ""), stdout=stdout, stderr=stderr,
                       exit_code=int(meta["exit"]))


def make_result(stdout: str = "", stderr: str = "", exit_code: int | None = 0, *, truncated: bool = False,
                transport: str = "ssh") -> ProbeResult:
    """A ProbeResult written in the test (outputs documented but not captured here)."""
    return ProbeResult(key="k", transport=transport, command="", stdout=stdout, stderr=stderr,
                       exit_code=exit_code, truncated=truncated)


def frame_files(files: dict[str, str], absent: tuple[str, ...] = (), family: str | None = None,
                owner: str = "root", mode: str = "644") -> str:
    """A file dump in the probe's framing (see checks.linux._parse) for files written in a test."""
    out = [f":: family {family}"] if family else []
    out += [f":: absent {p}" for p in absent]
    for path, content in files.items():
        out += [f"==> {path}", f":: lstat {owner} {mode} regular file", f":: stat {owner} {mode} regular file"]
        lines = content.split("\n")
        if content.endswith("\n"):
            lines.pop()
        out += ["|" + line for line in lines]
        if content.endswith("\n") or not content:
            out.append("")
        out.append(":: end 0")
    return "\n".join(out) + "\n"


def run_judge(cls: type[Check], params: dict[str, Any], **results: ProbeResult) -> Verdict:
    """Call the judge directly (a judge exception fails the test instead of becoming erreur)."""
    check = cls()
    p = cls.Params(**params)
    assert set(results) == set(check.probes(p)), "the test feeds exactly the probes the check declares"
    verdict = check.judge(p, results)
    assert isinstance(verdict, Verdict)
    assert verdict.message, "every verdict explains itself to the jury"
    return verdict


@pytest.fixture
def capture() -> Callable[[str], ProbeResult]:
    return load_capture


@pytest.fixture
def result() -> Callable[..., ProbeResult]:
    return make_result


@pytest.fixture
def judge() -> Callable[..., Verdict]:
    return run_judge


@pytest.fixture
def framing() -> Callable[..., str]:
    return frame_files
