"""Candidate bytes never reach the proctor's terminal raw (issue: a hostile exam room, part 4)."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

from rich.table import Table

from grader.terminal import SafeConsole, configure_logging, visible

OSC52 = "\x1b]52;c;SGVsbG8=\x07"  # writes the proctor's clipboard
TITLE = "\x1b]0;pwned\x07"  # retitles the window


def test_visible_shows_control_characters_instead_of_sending_them() -> None:
    shown = visible(f"ok {OSC52} {TITLE} \x9b2J \u202egnp.exe\nline\tcol")
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown and "\u202e" not in shown
    assert "\\x1b]52;c;SGVsbG8=\\x07" in shown and "\\u202e" in shown and "\nline\tcol" in shown


def test_every_string_a_safe_console_renders_is_visible_tables_included() -> None:
    buf = io.StringIO()
    console = SafeConsole(file=buf, force_terminal=True, highlight=False, width=200)
    table = Table("candidat")
    table.add_row(f"Camille {TITLE}")
    console.print(f"anomalie : {OSC52}", markup=False)
    console.print(table)
    out = buf.getvalue()
    assert "]52;" in out and "\x1b]52" not in out and "\x1b]0;" not in out and "\x07" not in out


def test_library_logs_stay_out_of_the_terminal_unless_verbose() -> None:
    code = ("import logging; from grader.terminal import configure_logging; configure_logging(); "
            "logging.getLogger('paramiko.transport').error('Exception (client): boom')")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                           cwd=Path(__file__).resolve().parent.parent)
    assert quiet.stderr == ""
    loud = subprocess.run([sys.executable, "-c", code.replace("configure_logging()", "configure_logging(True)")
                           .replace("boom", "boom \\x1b]0;t\\x07")], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parent.parent)
    assert "boom" in loud.stderr and "\x1b" not in loud.stderr


def test_configure_logging_twice_adds_one_handler() -> None:
    before = list(logging.getLogger().handlers)
    configure_logging()
    configure_logging()
    added = [h for h in logging.getLogger().handlers if h not in before]
    assert len(added) <= 1
    for h in added:
        logging.getLogger().removeHandler(h)
