"""The ``smb_as`` channel's language: a share opened *as a given user* (list its root, read a file's first bytes).

Where the ``smb`` channel reads SYSVOL with the grader's reader account, this one proves who may
use a share: each probe logs in with its own rubric credential (:attr:`grader.model.Probe.secret`,
a user of the candidate's domain and its test password) in a session of its own, lists the
share's root and reads the first bytes of one named file. Nothing is written, nothing is left
open. The command names the account, never the password::

    {"as":"alice","file":"lisezmoi.txt","share":"compta"}

The result's ``stdout`` is JSON (:func:`parse_output`)::

    {"user": "alice@tssr.lan", "share": "compta",
     "session": {"ok": true},                       # or {"ok": false, "status": "STATUS_LOGON_FAILURE"}
     "list": {"ok": true, "names": ["lisezmoi.txt"], "count": 1},   # or {"ok": false, "status": ...}
     "read": {"ok": true, "bytes": 12, "base64": "..."}}            # or {"ok": false, "status": ...}

A refusal is the server's answer, kept by its NT status name (``STATUS_ACCESS_DENIED``,
``STATUS_BAD_NETWORK_NAME`` for a share that does not exist, ``STATUS_OBJECT_NAME_NOT_FOUND``...);
a server that cannot be reached makes the channel raise :class:`~grader.errors.Unreachable`,
never a refusal. The session is :mod:`grader.transports.smb_as`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from grader.model import Probe, ProbeResult
from grader.probes.channel import ChannelOptions, ChannelSpec

HEAD = 64  # bytes of the file read: enough to prove the read, little enough for the evidence


def access_as(credential: str, share: str, file: str | None = None, timeout: float = 20.0) -> Probe:
    """A probe: as ``credential``, list ``share``'s root and read the first bytes of ``file`` (relative, optional)."""
    spec = {"as": credential, "share": share, "file": file.replace("\\", "/").strip("/") if file else None}
    validate_spec(spec)
    return Probe("smb_as", json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":")), timeout,
                 secret=credential)


def validate_spec(spec: Any) -> dict[str, Any]:
    """The probe's spec, checked; raises ValueError with a French reason."""
    if not isinstance(spec, dict) or set(spec) != {"as", "share", "file"}:
        raise ValueError("l'accès SMB doit être un objet {as, share, file}")
    if not isinstance(spec["as"], str) or not spec["as"]:
        raise ValueError("« as » doit nommer des identifiants du barème")
    share = spec["share"]
    if not isinstance(share, str) or not share or any(c in share for c in "\\/*?"):
        raise ValueError("« share » doit être un nom de partage")
    file = spec["file"]
    if file is not None and (not isinstance(file, str) or not file or "*" in file
                             or any(p in ("", ".", "..") for p in file.split("/"))):
        raise ValueError("« file » doit être un chemin relatif sans joker ni « .. »")
    return spec


def parse_output(result: ProbeResult) -> dict[str, Any]:
    """The probe's outcome; raises ValueError when the output is not the channel's."""
    data = json.loads(result.stdout)
    if not isinstance(data, dict) or not isinstance(data.get("session"), dict):
        raise ValueError("sortie SMB illisible")  # noqa: TRY004 - one error type for callers
    return data


class SmbAsOptions(ChannelOptions):
    """``hosts[].options.smb_as`` in a rubric."""

    port: int = Field(default=445, ge=1, le=65535)


CHANNEL = ChannelSpec("smb_as", "grader.transports.smb_as:SmbAsChannel", Options=SmbAsOptions, grader_side=True)
