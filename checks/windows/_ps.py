"""Helpers shared by the Windows checks: PowerShell quoting, probe results, Windows PowerShell 5.1 JSON, accounts.

Probes are PowerShell text run by the WinRM channel's batch (one ``powershell.exe`` per host,
see :mod:`grader.probes.winrm`). They use full cmdlet names (no aliases: a
candidate's profile is not loaded, and aliases are not guaranteed), ``-ErrorAction Stop`` on
the cmdlet that decides (so "not found" is an error record the judge can read, not an empty
answer), and end with ``ConvertTo-Json -Depth 4``, whose Windows PowerShell 5.1 output the
judges read: two spaces after colons, CRLF, enums as integers, dates as ``/Date(ms)/``, one
object *not* wrapped in an array, and nothing at all for an empty pipeline.

How a failed probe is judged (``exit_code`` 1 when it stopped on an error, 2 when it completed
with error records, the records in ``stderr``):

* the cmdlet does not exist (``CommandNotFoundException``: role, feature or RSAT module not
  installed, or a client Windows) → ``erreur``, unless the check can prove the role is absent
  (then ``non_conforme``); note that this exception's *category* is ObjectNotFound too;
* the object asked for does not exist (category ``ObjectNotFound``: no such service, task,
  share, scope, record...; for the CDXML cmdlets ``CmdletizationQuery_NotFound[_<property>]``,
  see :func:`object_missing`) → the check's own ``non_conforme``;
* anything else (access denied, WMI/CIM failure, RPC server unavailable...) → ``erreur``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator

from checks._common.text import clip
from checks.windows._gpo import DOMAIN_RIDS, WELL_KNOWN_SIDS, name_key
from grader.model import Msg, ProbeResult, Verdict
from grader.probes.winrm import error_records

_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"  # PowerShell treats all of these as single quotes


def ps_quote(value: str) -> str:
    """A PowerShell single-quoted literal (no expansion); every kind of single quote is doubled."""
    text = str(value)
    if any(ord(c) < 32 for c in text):
        raise ValueError("caractère de contrôle interdit dans un paramètre")
    return "'" + "".join(c + c if c in _SINGLE_QUOTES else c for c in text) + "'"


def no_wildcards(value: str) -> str:
    """Parameter validator: cmdlets such as Get-Service -Name take wildcards; a parameter must not."""
    if not value or not value.strip():
        raise ValueError("valeur vide")
    if any(c in value for c in "*?[]`"):
        raise ValueError("les caractères * ? [ ] ` ne sont pas permis (pas de motif)")
    if any(ord(c) < 32 for c in value):
        raise ValueError("caractère de contrôle interdit")
    return value


#: A name a cmdlet must read as itself, never as a wildcard pattern (:func:`no_wildcards`, when the rubric loads).
ExactName = Annotated[str, AfterValidator(no_wildcards)]


# --- ConvertTo-Json output ---------------------------------------------------------------

class JsonError(ValueError):
    """The probe's output is not the JSON ConvertTo-Json writes."""


def items(text: str) -> list[dict[str, Any]]:
    """Objects from ConvertTo-Json output: nothing → [], one object → [it], an array → its objects."""
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonError(f"JSON invalide ({exc.msg}, ligne {exc.lineno})") from exc
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list) and all(isinstance(x, dict) for x in data):
        return data
    raise JsonError("objets attendus")


def as_list(value: Any) -> list[Any]:
    """A property that ConvertTo-Json may have written as a value, an array or null."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


def ps_date(value: Any) -> datetime | None:
    """A date as ConvertTo-Json writes it, as an aware datetime; None otherwise.

    Windows PowerShell 5.1 writes ``/Date(1717200000000)/`` (milliseconds since 1970, UTC);
    PowerShell 7 writes ISO 8601, ``2026-11-28T03:00:00+01:00`` (a local date, with its offset),
    ``...Z`` (UTC) or without offset (a date of unspecified kind: read as UTC).
    """
    if isinstance(value, str):
        m = _DATE.match(value)
        if m:
            return datetime.fromtimestamp(int(m.group(1)) / 1000, tz=UTC)
        if _ISO.match(value):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return None
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    return None


def enum_name(value: Any, names: dict[int, str]) -> str:
    """An enum ConvertTo-Json wrote as an integer (or, from a newer PowerShell, as its name)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return names.get(value, str(value))
    return str(value) if value is not None else "(vide)"


def enum_said(value: Any, names: dict[int, str]) -> str | Msg:
    """:func:`enum_name` as the evidence shows it: « (vide) » said in the report's language."""
    return Msg("(vide)") if value is None else enum_name(value, names)


# --- failed probes -----------------------------------------------------------------------

@dataclass(frozen=True)
class Failure:
    kind: str  # missing_command | not_found | denied | other
    error_id: str
    message: str

    def describe(self) -> str:
        return clip(self.message or self.error_id, 240, crlf=True)


def failure(result: ProbeResult) -> Failure | None:
    """Why the probe did not answer (its first error record), or None when it answered."""
    if result.exit_code in (0, None):
        return None
    records = error_records(result)
    if not records:
        return Failure("other", "", clip(result.stderr or f"code {result.exit_code}", 240, crlf=True))
    # A missing cmdlet decides, whichever record tells it (a probe may complete with it as a
    # non-terminating error after another one): nothing the probe printed can then be judged.
    first = next((r for r in records if _command_missing(r)), records[0])
    kind = "other"
    exc_type, category, error_id = first.get("type", ""), first.get("category", ""), first.get("id", "")
    if _command_missing(first):
        kind = "missing_command"
    elif category == "ObjectNotFound":
        kind = "not_found"
    elif category in ("PermissionDenied", "SecurityError") or "UnauthorizedAccess" in exc_type:
        kind = "denied"
    return Failure(kind, error_id, first.get("message", ""))


def _command_missing(record: dict[str, str]) -> bool:
    return (record.get("type", "").endswith("CommandNotFoundException")
            or record.get("id", "").startswith("CommandNotFoundException"))


def object_missing(f: Failure | None) -> bool:
    """A CDXML cmdlet's query found nothing (``Get-ScheduledTask``, ``Get-SmbShare``...).

    Windows PowerShell 5.1 reports it as a ``CimJobException`` whose FullyQualifiedErrorId is
    ``CmdletizationQuery_NotFound_<property>,<cmdlet>`` (``..._NotFound_TaskName``), or
    ``CmdletizationQuery_NotFound,<cmdlet>`` without the property; never a missing cmdlet.
    """
    if f is None or f.kind == "missing_command":
        return False
    head = f.error_id.split(",", 1)[0]
    return head == "CmdletizationQuery_NotFound" or head.startswith("CmdletizationQuery_NotFound_")


def unusable(result: ProbeResult, what: str | Msg, expected: str | Msg) -> Verdict:
    """The erreur verdict for a probe that failed for a reason the check does not interpret."""
    f = failure(result)
    if f is None:
        return Verdict.erreur(Msg("{what} : réponse inattendue", what=what), expected=expected)
    if f.kind == "missing_command":
        return Verdict.erreur(Msg("{what} : la commande PowerShell n'existe pas sur cet hôte ({detail})", what=what,
                                  detail=f.describe()), expected=expected)
    if f.kind == "denied":
        return Verdict.erreur(Msg("{what} : accès refusé au compte du correcteur ({detail})", what=what,
                                  detail=f.describe()), expected=expected)
    return Verdict.erreur(Msg("{what} : {detail}", what=what, detail=f.describe()), expected=expected)


def read_items(result: ProbeResult, what: str | Msg, expected: str | Msg) -> list[dict[str, Any]] | Verdict:
    """The objects of a probe that must have answered (exit code 0), or the erreur verdict."""
    if result.exit_code != 0:
        return unusable(result, what, expected)
    if result.truncated:
        return Verdict.erreur(Msg("{what} : sortie tronquée", what=what), observed=clip(result.stdout, crlf=True),
                              expected=expected)
    try:
        return items(result.stdout)
    except JsonError as exc:
        return Verdict.erreur(Msg("{what} : sortie illisible ({exc})", what=what, exc=exc),
                              observed=clip(result.stdout, crlf=True) or Msg("(vide)"), expected=expected)


# --- comparing names as Windows does ---------------------------------------------------------

def same_name(a: str | None, b: str | None) -> bool:
    """Windows account/object names: case-insensitive, accents exact, surrounding spaces significant."""
    return a is not None and b is not None and a.casefold() == b.casefold()


def account_matches(account: str | None, wanted: str) -> bool:
    """``TSSR\\Comptabilité`` matches ``Comptabilité`` and ``tssr\\comptabilité`` (not ``Comptabilite``)."""
    if account is None:
        return False
    if "\\" in wanted:
        return same_name(account, wanted)
    return same_name(account.rpartition("\\")[2], wanted)


_DOMAIN_SID = re.compile(r"^S-1-5-21-\d+-\d+-\d+-(\d+)$")


def _sid(text: str | None) -> str | None:
    """``text`` as an upper-case SID string when it is one (``S-1-5-18``), else None."""
    value = (text or "").strip().upper()
    return value if re.fullmatch(r"S-1-\d+(-\d+)*", value) else None


@dataclass(frozen=True)
class Account:
    """An account as a rubric names it, resolved the way ``ad.gpo_setting`` resolves holders.

    A built-in account every Windows has (« Système », ``SYSTEM``, « Tout le monde »,
    ``BUILTIN\\Administrateurs``...) or a domain's own one (« Utilisateurs du domaine »,
    ``Domain Admins``...) is known by its SID, whatever the language the rubric or the server
    names it in (:data:`checks.windows._gpo.WELL_KNOWN_SIDS` and ``DOMAIN_RIDS``, English and
    French); a SID written in the rubric is taken as is; any other name is compared as Windows
    compares names (:func:`account_matches`).
    """

    text: str
    sid: str | None = None  # a SID: well known, or written in the rubric
    rid: int | None = None  # a domain's well-known account (513: Domain Users), in whichever domain

    @classmethod
    def of(cls, text: str) -> Account:
        sid = _sid(text)
        if sid is not None:
            return cls(text, sid=sid)
        return cls(text, sid=_known_sid(text), rid=_known_rid(text))

    def matches(self, name: str | None, sid: str | None = None) -> bool:
        """Whether an entry read on the host (its name, and its SID when the probe could translate it) is this account."""
        observed = _sid(sid) or _sid(name)
        if self.sid is not None or self.rid is not None:
            if observed is None:  # no SID read: the name, through the same tables
                observed = _known_sid(name or "")
                rid = _known_rid(name or "")
                if observed is None and rid is None:
                    return account_matches(name, self.text)
                return (self.sid is not None and observed == self.sid) or (self.rid is not None and rid == self.rid)
            if self.sid is not None:
                return observed == self.sid
            m = _DOMAIN_SID.match(observed)
            return m is not None and int(m.group(1)) == self.rid
        return account_matches(name, self.text)


def _known_sid(name: str) -> str | None:
    key = name_key(name)
    return next((sid for sid, aliases in WELL_KNOWN_SIDS.items() if key in (name_key(a) for a in aliases)), None)


def _known_rid(name: str) -> int | None:
    key = name_key(name)
    return next((rid for rid, aliases in DOMAIN_RIDS.items() if key in (name_key(a) for a in aliases)), None)


def clip_said(said: str | Msg, limit: int = 200) -> str | Msg:
    """:func:`clip` for a text that may be a Msg: the Msg when its French text needs no clipping, else the clipped text."""
    text = str(said)
    clipped = clip(text, limit, crlf=True)
    return said if clipped == text else clipped


def sentences(parts: Sequence[str | Msg]) -> str | Msg:
    """Sentences said one after the other (a space between them), each in the report's language."""
    if not parts:
        return ""
    said = parts[-1]
    for part in reversed(parts[:-1]):
        said = Msg("{first} {second}", first=part, second=said)
    return said


def joined(parts: Sequence[str | Msg]) -> str | Msg:
    """Parts of the evidence said one after the other, « a ; b ; c » in French (plain text when none is a Msg)."""
    if not any(isinstance(part, Msg) for part in parts):
        return " ; ".join(str(part) for part in parts)
    if len(parts) == 1:
        return parts[0]
    return Msg("{first} ; {rest}", first=parts[0], rest=tuple(parts[1:]))


def bars(parts: Sequence[str | Msg]) -> str | Msg:
    """Items listed « a | b | c » (plain text when none is a Msg)."""
    if not any(isinstance(part, Msg) for part in parts):
        return " | ".join(str(part) for part in parts)
    said = parts[0]
    for part in parts[1:]:
        said = Msg("{previous} | {last}", previous=said, last=part)
    return said


def settle(observed: Sequence[str | Msg], problems: Sequence[str | Msg], expected: str | Msg,
           success: str | Msg) -> Verdict:
    """The end of a multi-part judge: every problem found makes it non conforme, none makes it conforme."""
    text = joined(observed)
    if problems:
        return Verdict.non_conforme(text, expected, sentences(problems))
    return Verdict.conforme(text, expected, success)
