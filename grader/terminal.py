"""What reaches the proctor's terminal: never a candidate's control characters.

A host's output, a roster name or a file name inside someone's bundle may carry terminal escape
sequences: OSC 52 writes the proctor's clipboard, OSC 0 retitles the window, CSI sequences move the
cursor over earlier lines. Every text grader prints goes through :func:`visible` (the CLI's consoles
do it for every string they render), which shows such characters instead of sending them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rich.console import Console, ConsoleDimensions
from rich.text import Text

#: C0 controls but tab and newline, DEL, C1 controls; and the Unicode bidi overrides that reorder a line.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with every control character shown as ``\\xNN`` / ``\\uNNNN``, never sent as such."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        text)


#: The width of a console that is not a terminal (a log file, a pipe, CI): nothing is cut or wrapped.
UNBOUNDED = 10_000


class SafeConsole(Console):
    """A rich console whose every rendered string is :func:`visible` first (tables, live view, messages).

    When its output is not a terminal (redirected to a file, read by CI), it has no width to respect:
    lines are written whole, never cut at 80 columns (rich's default) or at ``COLUMNS`` (which CI
    runners set to 80). A table still takes only the width of its content; ``width=`` still wins.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._explicit_width = kwargs.get("width") is not None

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(visible(text), **kwargs)

    @property
    def size(self) -> ConsoleDimensions:
        dimensions = super().size
        if not self._explicit_width and not self.is_terminal and not self.is_jupyter:
            return ConsoleDimensions(UNBOUNDED, dimensions.height)
        return dimensions

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size
        self._explicit_width = True


class _VisibleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record))


def configure_logging(verbose: bool = False) -> None:
    """Libraries' logs (paramiko's tracebacks on a hostile host) stay out of the terminal unless ``-v``.

    Without a handler, Python prints warnings to stderr by itself ("last resort"); a null handler on
    the root logger stops that. ``verbose`` adds a stderr handler whose lines are :func:`visible`.
    """
    root = logging.getLogger()
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())
    if verbose and not any(getattr(h, "_grader", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(_VisibleFormatter("%(levelname)s %(name)s: %(message)s"))
        handler._grader = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
