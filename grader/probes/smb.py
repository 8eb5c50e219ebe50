"""The ``smb`` channel's language: files read from a host's shares (a DC's SYSVOL), declared, never fetched here.

A probe's ``command`` is a declarative read, canonical JSON written by :func:`read_tree`::

    {"dirs":"*/Policies/*","files":["GPT.INI","User/Registry.pol"],"share":"SYSVOL"}

``dirs`` is a path under the share whose ``*`` components match any one directory name; for every
directory matched, each of ``files`` (relative to it) is read. The result's ``stdout`` is JSON, read
back with :func:`parse_output` and :func:`file_bytes`: ``{"share": ..., "dirs": [{"path":
"tssr.lan/Policies/{...}", "files": {name: {"size": n, "base64": ...} | {"absent": true} | {"error":
"..."}}}]}``: a file that does not exist is an *observation* (``absent``), one the account may not read
is that file's ``error`` (a judge must then say it could not tell), one larger than the channel's cap
is cut to it and marked ``truncated``. The session is :mod:`grader.transports.smb`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from pydantic import Field

from grader.model import Probe, ProbeResult
from grader.probes.channel import ChannelOptions, ChannelSpec


def read_tree(share: str, dirs: str, files: Iterable[str], timeout: float = 20.0) -> Probe:
    """A probe for the ``smb`` channel: read ``files`` in every directory matching ``dirs`` on ``share``.

    Equal reads (same share, pattern and files) share one run, whatever the number of checks.
    """
    spec = {"share": share, "dirs": dirs.replace("\\", "/").strip("/"),
            "files": sorted({f.replace("\\", "/").strip("/") for f in files}, key=str.lower)}
    validate_spec(spec)
    return Probe("smb", json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":")), timeout)


def validate_spec(spec: Any) -> dict[str, Any]:
    """The read spec, checked; raises ValueError with a French reason."""
    if not isinstance(spec, dict) or set(spec) != {"share", "dirs", "files"}:
        raise ValueError("la lecture SMB doit être un objet {share, dirs, files}")
    share, dirs, files = spec["share"], spec["dirs"], spec["files"]
    if not isinstance(share, str) or not share or any(c in share for c in "\\/*?"):
        raise ValueError("« share » doit être un nom de partage")
    if not isinstance(dirs, str) or any(part in ("", ".", "..") for part in dirs.split("/")):
        raise ValueError("« dirs » doit être un chemin relatif sans « .. »")
    if not isinstance(files, list) or not files or not all(
            isinstance(f, str) and f and "*" not in f and all(p not in ("", ".", "..") for p in f.split("/"))
            for f in files):
        raise ValueError("« files » doit être une liste de chemins relatifs sans joker ni « .. »")
    return spec


def parse_output(result: ProbeResult) -> list[dict[str, Any]]:
    """The matched directories of an smb probe's stdout; raises ValueError when it is not ours."""
    data = json.loads(result.stdout)
    if not isinstance(data, dict) or not isinstance(data.get("dirs"), list):
        raise ValueError("sortie SMB illisible")  # noqa: TRY004 - one error type for callers
    return data["dirs"]


def file_bytes(entry: dict[str, Any]) -> bytes:
    """The content of a file entry that was read (``base64``)."""
    return base64.b64decode(entry.get("base64", ""))


class SmbOptions(ChannelOptions):
    """``hosts[].options.smb`` in a rubric."""

    credential: str | None = None  # an account of the domain (a rubric credential); else the host's own
    port: int = Field(default=445, ge=1, le=65535)
    encrypt: bool = False  # true: require SMB 3 encryption of the session


CHANNEL = ChannelSpec("smb", "grader.transports.smb:SmbChannel", Options=SmbOptions)
