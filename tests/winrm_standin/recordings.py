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

A *recording bundle* written by ``grader windows record`` on a real Windows Server (see
:mod:`grader.windows_record`) is another source: :func:`from_bundle` reads its probes as
recordings whose origin is that machine (label, OS caption and version, culture, date), each
carrying the record exactly as that Windows framed it (``raw``): the stand-in then answers with
those very bytes (:mod:`tests.winrm_standin.powershell`). Bundles a trainer sent back live in
``bundles/`` (file name = what it is, e.g. ``ws2022-fr-template.json``).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from grader.model import Probe, ProbeResult
from grader.transports import psenvelope

DIR = Path(__file__).parent / "recordings"
BUNDLES = Path(__file__).parent / "bundles"


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
    raw: str = ""  # from a bundle: the record's base64 text as a real Windows framed it (served as is)
    verbatim: dict[str, object] | None = None  # from a bundle: that record, decoded

    def record(self, index: int, key: str, budget_s: float, cap: int = psenvelope.CAP) -> dict[str, object]:
        """The JSON record the envelope's PowerShell side writes for this output (see psenvelope)."""
        if self.verbatim is not None:  # a real machine's record: only its index and key follow the batch
            return {**self.verbatim, "i": index, "k": key}
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


def from_bundle(path: Path | str) -> dict[str, Recording]:
    """The probes of a recording bundle as recordings, by command (probes without a frame are left out).

    Read with ``json`` and ``base64`` only, as the stand-in reads everything it plays: never with
    grader's own bundle reader or envelope parser.
    """
    path = Path(path)
    bundle = json.loads(path.read_text(encoding="utf-8"))
    if bundle.get("format") != "grader-windows-recording/1":
        raise ValueError(f"{path.name}: not a grader windows recording")
    facts = bundle.get("os") or {}
    origin = (f"recorded with grader {bundle.get('grader')} on {bundle.get('label')} "
              f"({facts.get('caption', '?')} {facts.get('version', '?')}, OS language {facts.get('os_language', '?')}, "
              f"UI culture {facts.get('ui_culture', '?')}) at {bundle.get('recorded')}; bundle {path.name}")
    found: dict[str, Recording] = {}
    for probe in bundle["probes"]:
        raw = probe.get("raw")
        if raw is None:
            continue
        try:
            record = json.loads(base64.b64decode(raw, validate=True).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            record = None
        if not isinstance(record, dict):  # served as recorded: whatever the grammar thinks of it
            record = {}
        errors = record.get("errors") if isinstance(record.get("errors"), list) else []
        found[probe["command"]] = Recording(
            name=f"{path.stem}#{probe['index']}", origin=origin, output=str(record.get("out") or ""),
            errors=tuple(e for e in errors if isinstance(e, dict)), status=str(record.get("status") or "ok"),
            meta={"origin": origin, "bundle": str(path)}, raw=raw, verbatim=record)
    return found


def bundles() -> list[Path]:
    """The recording bundles trainers sent back (``bundles/*.json``)."""
    return sorted(BUNDLES.glob("*.json"))
