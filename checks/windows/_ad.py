"""Pure helpers of the Active Directory checks: DNs, names compared as AD compares them, gPLink.

Everything here works on the JSON the ``ldap`` channel returns (see
:mod:`grader.probes.ldap`): entries ``{"dn": ..., "attributes": {name: [values]}}``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks._common.text import commas
from grader.model import Msg, ProbeResult, Verdict
from grader.probes.ldap import parse_output

# --- entries ----------------------------------------------------------------------------------


class Entry:
    """One directory entry; attribute names are case-insensitive, as in LDAP."""

    def __init__(self, raw: Mapping[str, Any]):
        self.dn: str = str(raw.get("dn", ""))
        attrs = raw.get("attributes") or {}
        self._attrs = {str(k).lower(): list(v) if isinstance(v, list) else [v] for k, v in attrs.items()}

    def all(self, name: str) -> list[Any]:
        return self._attrs.get(name.lower(), [])

    def first(self, name: str, default: Any = None) -> Any:
        values = self.all(name)
        return values[0] if values else default

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Entry({self.dn!r})"


@dataclass(frozen=True)
class Search:
    """A parsed ldap probe result: the absolute base and the entries."""

    base: str
    entries: list[Entry]
    code: int
    truncated: bool


def read(result: ProbeResult, what: str | Msg) -> Search | Verdict:
    """The search, or an ``erreur`` verdict saying why it cannot be read. noSuchObject (32) is an empty answer."""
    if result.exit_code not in (0, 32):
        detail = result.stderr.strip()
        return Verdict.erreur(Msg("la recherche LDAP ({what}) a échoué : code {code}{detail}", what=what,
                                  code=result.exit_code, detail=" " + detail if detail else ""))
    try:
        base, entries = parse_output(result)
    except ValueError as exc:
        return Verdict.erreur(Msg("réponse LDAP ({what}) illisible : {exc}", what=what, exc=exc))
    return Search(base, [Entry(e) for e in entries], result.exit_code or 0, result.truncated)


# --- DNs -------------------------------------------------------------------------------------


def split_dn(dn: str) -> list[tuple[str, str]]:
    """``OU=Paie,OU=Compta\\2C RH,DC=tssr,DC=lan`` -> [("OU","Paie"), ("OU","Compta, RH"), ("DC","tssr"), ...].

    RFC 4514 escapes are undone (``\\,`` and ``\\2C`` alike, UTF-8 hex sequences included);
    values keep their spaces, so a trailing space escaped as ``\\ `` is seen.
    """
    parts: list[tuple[str, str]] = []
    i, n = 0, len(dn)
    while i < n:
        eq = dn.find("=", i)
        if eq < 0:
            raise ValueError(f"DN invalide : {dn!r}")
        attr = dn[i:eq].strip()
        j = eq + 1
        buf = bytearray()
        while j < n and dn[j] != ",":
            ch = dn[j]
            if ch == "\\" and j + 1 < n:
                nxt = dn[j + 1:j + 3]
                if len(nxt) == 2 and all(c in "0123456789abcdefABCDEF" for c in nxt):
                    buf.append(int(nxt, 16))
                    j += 3
                    continue
                buf += dn[j + 1].encode()
                j += 2
                continue
            buf += ch.encode()
            j += 1
        parts.append((attr, buf.decode("utf-8", errors="replace")))
        i = j + 1
    return parts


def rdn_value(dn: str) -> str:
    parts = split_dn(dn)
    return parts[0][1] if parts else dn


def relative_path(dn: str, base: str) -> list[tuple[str, str]] | None:
    """The RDNs of ``dn`` above the naming context ``base``, top first; None if ``dn`` is not under it."""
    parts, tail = split_dn(dn), split_dn(base)
    if len(parts) < len(tail) or [(a.lower(), same_key(v)) for a, v in parts[len(parts) - len(tail):]] != \
            [(a.lower(), same_key(v)) for a, v in tail]:
        return None
    return list(reversed(parts[:len(parts) - len(tail)]))


def naming_context(dn: str) -> str:
    """The ``DC=...`` tail of a DN (the domain)."""
    parts = split_dn(dn)
    dcs = [f"{a}={v}" for a, v in parts if a.lower() == "dc"]
    return ",".join(dcs)


def parent_path(dn: str, base: str) -> list[tuple[str, str]] | None:
    """The containers holding ``dn`` (its parent chain above the naming context), top first."""
    path = relative_path(dn, base)
    return None if path is None else path[:-1]


def show_path(path: Sequence[tuple[str, str]]) -> str | Msg:
    """How the jury reads a location: ``Siège/Comptabilité`` (``(racine du domaine)`` when empty, a Msg)."""
    return "/".join(v for _, v in path) if path else Msg("(racine du domaine)")


def parse_path(text: str) -> list[str]:
    """A location as a trainer writes it: ``Siège/Comptabilité`` (top first) or ``OU=Comptabilité,OU=Siège``."""
    text = text.strip()
    if not text or text == "/":
        return []
    if "=" in text:
        parts = [(a, v) for a, v in split_dn(text) if a.lower() != "dc"]
        return [v for _, v in reversed(parts)]
    return [p for p in text.strip("/").split("/")]


def validate_path(text: str) -> str:
    """Rubric-time validation of a location parameter (raises ValueError in French)."""
    if text != text.strip():
        raise ValueError(f"espace en début ou fin de « {text} » : retirez-la du barème")
    names = parse_path(text)
    for name in names:
        if not name.strip():
            raise ValueError("élément vide dans le chemin (« // » ?)")
        if name != name.strip():
            raise ValueError(f"espace en début ou fin de « {name} » : retirez-la du barème")
    return text


# --- names as AD compares them ---------------------------------------------------------------


def same_key(name: str) -> str:
    """AD compares names without regard to case, but accents and spaces count."""
    return name.lower()


def same_name(a: str, b: str) -> bool:
    return same_key(a) == same_key(b)


def without_accents(name: str) -> str:
    decomposed = unicodedata.normalize("NFD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def near_miss(expected: str, actual: str) -> Msg | None:
    """Why ``actual`` is not ``expected`` although a person would read them alike, or None."""
    if same_name(expected, actual):
        return None
    if same_name(expected.strip(), actual.strip()):
        return Msg("« {visible} » a des espaces en trop", visible=visible(actual))
    if unicodedata.normalize("NFC", expected).lower() == unicodedata.normalize("NFC", actual).lower():
        return Msg("« {actual} » s'écrit avec des caractères différents (accents décomposés)", actual=actual)
    if without_accents(expected.strip()) == without_accents(actual.strip()):
        return Msg("« {visible} » au lieu de « {expected} » (accents différents)",
                   visible=visible(actual), expected=expected)
    return None


def visible(name: str) -> str:
    """Leading and trailing spaces made visible for the jury (``Direction␣``)."""
    core = name.strip(" ")
    lead, trail = len(name) - len(name.lstrip(" ")), len(name) - len(name.rstrip(" "))
    return "␣" * lead + core + "␣" * trail


def same_path(expected: Sequence[str], actual: Sequence[tuple[str, str]]) -> bool:
    return len(expected) == len(actual) and all(same_name(e, a) for e, (_, a) in zip(expected, actual))


def path_near_miss(expected: Sequence[str], actual: Sequence[tuple[str, str]]) -> list[Msg] | None:
    """The first element that a person would read as the expected one but AD does not, or None."""
    if len(expected) != len(actual):
        return None
    reasons = []
    for e, (_, a) in zip(expected, actual):
        if same_name(e, a):
            continue
        why = near_miss(e, a)
        if why is None:
            return None
        reasons.append(why)
    return reasons or None  # said joined by « ; »


# --- OUs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Container:
    """A place in the tree that can hold links and objects: an OU, or the domain itself."""

    dn: str
    path: tuple[tuple[str, str], ...]
    entry: Entry

    @property
    def shown(self) -> str | Msg:
        return show_path(self.path)


def containers(ous: Search) -> list[Container]:
    """Every OU of a subtree search, with its path above the naming context (base of the search)."""
    out = []
    for e in ous.entries:
        path = relative_path(e.dn, ous.base)
        if path is not None:
            out.append(Container(e.dn, tuple(path), e))
    return out


def find_container(expected: Sequence[str], ous: Search) -> Container | None:
    return next((c for c in containers(ous) if same_path(expected, c.path)), None)


def explain_missing(expected: Sequence[str], ous: Search) -> Msg:
    """Why no OU matches: a near miss (accent, spaces), the same name elsewhere, or nothing close."""
    wanted = "/".join(expected)
    for c in containers(ous):
        why = path_near_miss(expected, c.path)
        if why:
            return Msg("L'UO « {wanted} » n'existe pas : {why} (trouvée : {dn}).", wanted=wanted, why=why, dn=c.dn)
    if expected:
        elsewhere = [c for c in containers(ous) if c.path and same_name(expected[-1], c.path[-1][1])]
        if elsewhere:
            return (
                    Msg("L'UO « {wanted} » n'existe pas à cet endroit ; une UO « {expected} » existe sous {items}.",
                        wanted=wanted, expected=expected[-1],
                        items=commas([show_path(c.path[:-1]) for c in elsewhere])))
        close = [c for c in containers(ous) if c.path and near_miss(expected[-1], c.path[-1][1])]
        if close:
            return Msg("L'UO « {wanted} » n'existe pas ; proche : {items}.",
                       wanted=wanted, items=", ".join(c.dn for c in close))
    return Msg("L'UO « {wanted} » n'existe pas.", wanted=wanted)


# --- GPO links ---------------------------------------------------------------------------------

_GPLINK = re.compile(r"\[LDAP://([^;\]]*);(\d+)\]", re.IGNORECASE)
_GUID = re.compile(r"cn=(\{[0-9a-fA-F-]{36}\})", re.IGNORECASE)
LINK_DISABLED, LINK_ENFORCED = 1, 2


@dataclass(frozen=True)
class Link:
    """One link of a gPLink: which GPO, its options, its link order (1 = highest precedence)."""

    gpo_dn: str
    guid: str  # "{31B2F340-...}" upper-case
    options: int
    order: int
    count: int

    @property
    def enabled(self) -> bool:
        return not self.options & LINK_DISABLED

    @property
    def enforced(self) -> bool:
        return bool(self.options & LINK_ENFORCED)


def parse_gplink(value: str | None) -> list[Link]:
    """The links of a gPLink, in the attribute's order.

    The *last* entry of the attribute has link order 1 (the highest precedence, as GPMC shows
    it): GPMC writes a new link, which gets the lowest precedence, at the front.
    """
    found = _GPLINK.findall(value or "")
    links = []
    for i, (dn, options) in enumerate(found):
        guid = _GUID.search(dn)
        links.append(Link(dn, guid.group(1).upper() if guid else "", int(options), len(found) - i, len(found)))
    return links


def describe_link(link: Link) -> Msg:
    """The link's state, enforcement and order (its ``str`` is the French text of the evidence)."""
    return Msg("{state}, {enforced}, ordre {order}/{count}",
               state=Msg("lien activé") if link.enabled else Msg("lien désactivé"),
               enforced=Msg("appliqué (enforced)") if link.enforced else Msg("non appliqué"),
               order=link.order, count=link.count)


def gpo_guid(entry: Entry) -> str:
    cn = str(entry.first("cn") or rdn_value(entry.dn))
    return cn.upper()


def gpos_named(name: str, gpos: Search) -> list[Entry]:
    return [e for e in gpos.entries if same_name(str(e.first("displayName") or ""), name)]


def gpo_near_misses(name: str, gpos: Search) -> list[Msg]:
    out = []
    for e in gpos.entries:
        shown = str(e.first("displayName") or "")
        why = near_miss(name, shown)
        if why:
            out.append(why)
    return out


def gpo_missing(name: str, close: Sequence[Msg]) -> Msg:
    """The message for a GPO that does not exist, with the near misses found (joined by « ; »)."""
    if not close:
        return Msg("La stratégie « {name} » n'existe pas.", name=name)
    said: Msg = close[-1]
    for part in reversed(close[:-1]):
        said = Msg("{first}; {second}", first=part, second=said)
    return Msg("La stratégie « {name} » n'existe pas ; {close}.", name=name, close=said)


def gpo_names(gpos: Search) -> list[str]:
    return sorted((str(e.first("displayName") or gpo_guid(e)) for e in gpos.entries), key=str.lower)


# --- misc ----------------------------------------------------------------------------------------


def clip_list(values: Iterable[str], limit: int = 12) -> str | Msg:
    """Names listed « a, b, c » (at most ``limit``, then ``(+N)``); ``(aucun)`` (a Msg) when there is none."""
    items = list(values)
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f" (+{more})" if more > 0 else "") if items else Msg("(aucun)")
