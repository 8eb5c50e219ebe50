"""Recorded PowerShell outputs: what a probe printed on Windows PowerShell 5.1, and where that shape comes from.

A recording (``recordings/<name>.rec``) is text::

    # origin: https://learn.microsoft.com/...      (required: the documentation page, or the
    #         recorded exchange, the output's shape was taken from; several lines allowed)
    # shape: Get-Service ... | ConvertTo-Json -Depth 4 (Windows PowerShell 5.1)
    # status: ok | error | timeout                 (optional, default ok; error needs an error section)
    # delay: 0.2                                   (optional: seconds the command takes)
    # --- output
    {
        "Name":  "Spooler",
        ...
    }
    # --- console                                  (optional: text written straight to the console,
    ...                                             outside the envelope's capture)
    # --- error                                    (optional: one JSON error record per line)
    {"type": "...", "id": "...", "category": "ObjectNotFound", "message": "...", "target": "..."}
    # --- end

Files are stored with LF line ends (git-friendly) and served with CRLF, as Windows PowerShell
writes them; a section's last line break is not part of the output (``ConvertTo-Json``
returns its text without a trailing newline). The stand-in answers probes from these files,
and the judge tests read the same files through :func:`result`, so a judge is tested on
exactly what the transport would hand it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from grader.model import Probe, ProbeResult
from grader.transports import psenvelope

DIR = Path(__file__).parent / "recordings"


@dataclass(frozen=True)
class Recording:
    name: str
    origin: str
    output: str = ""  # CRLF line ends
    errors: tuple[dict[str, str], ...] = ()
    status: str = "ok"
    delay: float = 0.0
    console: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    def record(self, index: int, key: str, budget_s: float, cap: int = psenvelope.CAP) -> dict[str, object]:
        """The JSON record the envelope's PowerShell side writes for this output (see psenvelope)."""
        status = self.status
        out = self.output
        trunc = False
        if self.delay > budget_s:
            status, out = "timeout", ""
        elif len(out) > cap:
            out, trunc = out[:cap], True
        errors = list(self.errors) if status in ("ok", "error") else []
        ms = int(min(self.delay, budget_s) * 1000)
        return {"i": index, "k": key, "status": status, "out": out if status != "timeout" else "", "trunc": trunc,
                "errors": errors, "ms": ms}


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


@cache
def load(name: str) -> Recording:
    """A recording by file name (without ``.rec``)."""
    text = (DIR / f"{name}.rec").read_text(encoding="utf-8")
    meta: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current: str | None = None
    last_key = ""
    for line in text.split("\n"):
        if line.startswith("# --- "):
            current = line[6:].strip()
            if current == "end":
                break
            sections[current] = []
            continue
        if current is None:
            if line.startswith("# ") and ": " in line and not line.startswith("#   "):
                key, value = line[2:].split(": ", 1)
                meta[key.strip()] = value.strip()
                last_key = key.strip()
            elif line.startswith("#   ") and last_key:
                meta[last_key] += " " + line[4:].strip()
            continue
        sections[current].append(line)
    else:
        raise ValueError(f"{name}.rec: no '# --- end' line")
    if "origin" not in meta:
        raise ValueError(f"{name}.rec: every recording states its origin")
    errors = tuple(json.loads(line) for line in sections.get("error", []) if line.strip())
    status = meta.get("status", "error" if errors else "ok")
    return Recording(
        name=name, origin=meta["origin"], output=_crlf("\n".join(sections.get("output", []))),
        errors=errors, status=status, delay=float(meta.get("delay", "0")),
        console=_crlf("\n".join(sections.get("console", []))), meta=meta,
    )


def result(name: str, probe: Probe | None = None) -> ProbeResult:
    """The ProbeResult the WinRM channel builds from this recording (same conversion as for a real run)."""
    probe = probe or Probe("winrm", f"# recording {name}")
    rec = load(name)
    return psenvelope.to_result(probe, rec.record(0, probe.key, probe.timeout))


def names() -> list[str]:
    return sorted(p.stem for p in DIR.glob("*.rec"))
