"""The ``helpdesk.*`` checks: tickets, solutions, knowledge-base articles and assets read from GLPI's REST API.

Each check asks the ``glpi`` channel for one lookup (:func:`grader.probes.glpi.lookup`) and judges its
matches. "After the exam start" is read from what GLPI stamps itself (``date_creation``, ``date_mod``),
never from the opening date a candidate may type into the form. A part GLPI did not give (a right
missing, a request failed, more matches than were read) is ``erreur``: the grader cannot tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from checks._common.params import Moment
from checks.helpdesk._glpi import (
    ACCEPTED,
    ASSIGNED,
    REFUSED,
    REQUESTER,
    STATUS_NAMES,
    STATUSES,
    TYPES,
    Lookup,
    folded,
    names_tree,
    names_user,
    read_lookup,
    words,
)
from grader.check import Check, CheckParams
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.glpi import ASSET_TYPES, lookup

Status = Literal["nouveau", "en_cours", "planifie", "en_attente", "resolu", "clos"]
Problems = list[Msg]


class _Params(CheckParams):
    #: The exam's start: what is judged must have been created (or updated) since.
    after: Moment | None = None


class _TicketParams(_Params):
    title: str | None = Field(default=None, min_length=1)
    keyword: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _found_by_something(self) -> _TicketParams:
        if self.title is None and self.keyword is None:
            raise ValueError("indiquez title ou keyword : comment retrouver le ticket")
        return self


class _Unknown(Exception):
    """A fact GLPI did not give: the match cannot be judged."""

    def __init__(self, reason: Msg) -> None:
        super().__init__(reason)
        self.reason = reason


def _created_after(lk: Lookup, item: dict[str, Any], after: datetime | None, problems: Problems,
                   field: str = "date_creation") -> None:
    if after is None:
        return
    if lk.offset is None:
        raise _Unknown(Msg("horloge de GLPI inconnue : impossible de situer ses dates"))
    when = lk.utc(item.get(field))
    if when is None:
        raise _Unknown(Msg("date {field} absente", field=field))
    if when < after:
        opened = lk.utc(item.get("date"))
        typed = (Msg(" (date d'ouverture saisie : {opened})", opened=str(item.get("date")))
                 if opened is not None and opened >= after and field == "date_creation" else "")
        problems.append(Msg("enregistré le {when}, avant le début de l'épreuve{typed}",
                            when=str(item.get(field)), typed=typed))


def _sub(match: dict[str, Any], name: str) -> list[dict[str, Any]]:
    rows = (match.get("sub") or {}).get(name)
    if rows is None:
        raise _Unknown(Msg("liste {name} non lue", name=name))
    return [r for r in rows if isinstance(r, dict)]


class _GlpiCheck(Check):
    """A check judged from one GLPI lookup: its matches, each judged alone; one without a problem is enough.

    Subclasses say what they look for (:meth:`expectation`), which matches count (:meth:`matches`),
    what is wrong with one (:meth:`problems`, raising :class:`_Unknown` for what GLPI did not give)
    and how one reads in the evidence (:meth:`describe`).
    """

    platform = "any"
    transport = "glpi"
    what: ClassVar[Msg]

    def expectation(self, params: Any) -> Msg:  # pragma: no cover - abstract
        raise NotImplementedError

    def matches(self, lk: Lookup, params: Any) -> list[dict[str, Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def problems(self, lk: Lookup, params: Any, match: dict[str, Any]) -> Problems:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self, lk: Lookup, match: dict[str, Any]) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def judge(self, params: Any, results: Mapping[str, ProbeResult]) -> Verdict:
        """Conforme when one match has no problem; erreur when none passes and one could not be judged."""
        expected = self.expectation(params)
        if params.after is not None:
            expected = Msg("{what}, depuis le {after}", what=expected, after=params.after.isoformat())
        lk = read_lookup(results["glpi"], expected)
        if isinstance(lk, Verdict):
            return lk
        matches = self.matches(lk, params)
        observed = " | ".join(self.describe(lk, m) for m in matches) or Msg("aucun")
        too_many = Msg("trop de résultats dans GLPI ({total}) : précisez la recherche", total=lk.total)
        if not matches:
            if not lk.complete:
                return Verdict.erreur(too_many, expected=expected)
            return Verdict.non_conforme(observed, expected, Msg("{what} est introuvable dans GLPI.", what=self.what))
        first: Problems | None = None
        unknown: Msg | None = None
        for match in matches:
            try:
                problems = self.problems(lk, params, match)
            except _Unknown as exc:
                unknown = unknown or exc.reason
                continue
            if not problems:
                return Verdict.conforme(observed, expected, Msg("{what} est conforme dans GLPI.", what=self.what))
            first = first or problems
        if unknown is not None:
            detail = Msg("{reason} ; {errors}", reason=unknown, errors="; ".join(lk.errors)) if lk.errors else unknown
            return Verdict.erreur(Msg("GLPI n'a pas tout donné : {detail}", detail=detail), observed=observed,
                                  expected=expected)
        if not lk.complete:
            return Verdict.erreur(too_many, observed=observed, expected=expected)
        return Verdict.non_conforme(observed, expected, Msg("{what} n'est pas conforme : {problems}.", what=self.what,
                                                            problems=tuple(first or ())))


class _TicketCheck(_GlpiCheck):
    what = Msg("Le ticket")

    def probes(self, params: _TicketParams) -> Mapping[str, Probe]:
        return {"glpi": lookup("ticket", "Ticket", name=params.title, text=params.keyword)}

    def matches(self, lk: Lookup, params: _TicketParams) -> list[dict[str, Any]]:
        """Matches whose title contains ``title`` (GLPI's search is broader: accents, words)."""
        return [m for m in lk.items if params.title is None or folded(params.title) in folded(m["item"].get("name"))]

    def describe(self, lk: Lookup, match: dict[str, Any]) -> str:
        t = match["item"]
        return (f"#{t.get('id')} « {t.get('name')} » créé {t.get('date_creation')}, "
                f"{STATUS_NAMES.get(t.get('status'), t.get('status'))}, "
                f"{lk.label('ITILCategory', t.get('itilcategories_id'))}")


def _status(ticket: dict[str, Any]) -> Msg:
    status = ticket.get("status")
    return Msg("statut {seen}", seen=STATUS_NAMES.get(status, str(status)) if isinstance(status, int) else str(status))


class Ticket(_TicketCheck):
    """Un ticket « {title} » a été ouvert dans GLPI et qualifié.

    Found by ``title`` (a part of its title) or ``keyword`` (a part of its description), created after
    ``after`` (GLPI's own ``date_creation``: an opening date typed into the form proves nothing).
    ``category`` (its name or complete name), ``type`` (``incident``/``demande``), ``urgency``,
    ``priority`` (1-6), ``requester``/``technician`` (a login or « Prénom Nom ») and ``status`` (one of
    the listed) are compared when given.
    """

    id = "helpdesk.ticket"
    usually_serves = ("CP3.1",)
    example = ("{title: 'Imprimante', after: '2026-06-15T08:30:00+02:00', category: Imprimante, type: incident, "
               "urgency: 4, requester: jdupont, technician: tech1, status: [en_cours, resolu, clos]}")

    class Params(_TicketParams):
        category: str | None = None
        type: Literal["incident", "demande"] | None = None
        urgency: int | None = Field(default=None, ge=1, le=5)
        priority: int | None = Field(default=None, ge=1, le=6)
        requester: str | None = None
        technician: str | None = None
        status: list[Status] | None = Field(default=None, min_length=1)

    def expectation(self, params: Params) -> Msg:
        return Msg("un ticket « {title} » qualifié", title=params.title or params.keyword or "")

    def problems(self, lk: Lookup, params: Params, match: dict[str, Any]) -> Problems:
        t, problems = match["item"], Problems()
        _created_after(lk, t, params.after, problems)
        if params.category and not names_tree(lk, "ITILCategory", t.get("itilcategories_id"), params.category):
            problems.append(Msg("catégorie {seen} au lieu de {wanted}", wanted=params.category,
                                seen=lk.label("ITILCategory", t.get("itilcategories_id"))))
        if params.type and t.get("type") != TYPES[params.type]:
            seen = next((name for name, value in TYPES.items() if value == t.get("type")), str(t.get("type")))
            problems.append(Msg("type {seen} au lieu de {wanted}", seen=seen, wanted=params.type))
        for field, level, label in (("urgency", params.urgency, Msg("urgence")),
                                    ("priority", params.priority, Msg("priorité"))):
            if level is not None and t.get(field) != level:
                problems.append(Msg("{label} {seen} au lieu de {wanted}", label=label, seen=str(t.get(field)),
                                    wanted=level))
        if params.status and STATUS_NAMES.get(t.get("status")) not in params.status:
            problems.append(_status(t))
        for role, wanted, label in ((REQUESTER, params.requester, Msg("demandeur")),
                                    (ASSIGNED, params.technician, Msg("technicien"))):
            if wanted:
                actors = [a for a in _sub(match, "Ticket_User") if a.get("type") == role]
                if not any(names_user(lk, a.get("users_id"), wanted) for a in actors):
                    seen = ", ".join(lk.label("User", a.get("users_id")) for a in actors) or "-"
                    problems.append(Msg("{role} {seen} au lieu de {wanted}", role=label, seen=seen, wanted=wanted))
        return problems


class TicketSolved(_TicketCheck):
    """Le ticket « {title} » est résolu avec une solution documentée.

    Its status is résolu or clos; its solution (the last one not refused) has at least ``min_words``
    words; it has at least one follow-up or task when ``followups`` is true; ``accepted``: the
    requester accepted the solution (ticket clos, or the solution approved). ``after`` as for
    ``helpdesk.ticket``.
    """

    id = "helpdesk.ticket_solved"
    usually_serves = ("CP3.4",)
    example = "{title: 'Imprimante', after: '2026-06-15T08:30:00+02:00', min_words: 15, accepted: true}"

    class Params(_TicketParams):
        min_words: int = Field(default=10, ge=1)
        followups: bool = True
        accepted: bool = False

    def expectation(self, params: Params) -> Msg:
        return Msg("ticket « {title} » résolu, solution d'au moins {n} mots", title=params.title or
                   params.keyword or "", n=params.min_words)

    def problems(self, lk: Lookup, params: Params, match: dict[str, Any]) -> Problems:
        t, problems = match["item"], Problems()
        _created_after(lk, t, params.after, problems)
        if t.get("status") not in (STATUSES["resolu"], STATUSES["clos"]):
            problems.append(_status(t))
        kept = [s for s in _sub(match, "ITILSolution") if s.get("status") != REFUSED]
        solution = max(kept, key=lambda s: int(s.get("id") or 0), default=None)
        if solution is None:
            problems.append(Msg("aucune solution"))
        elif words(solution.get("content")) < params.min_words:
            problems.append(Msg("solution de {n} mots", n=words(solution.get("content"))))
        if params.followups:
            subs = match.get("sub") or {}
            follow, tasks = subs.get("ITILFollowup"), subs.get("TicketTask")
            if not follow and not tasks:
                if follow is None or tasks is None:
                    raise _Unknown(Msg("suivis ou tâches non lus"))
                problems.append(Msg("ni suivi ni tâche"))
        if params.accepted and t.get("status") != STATUSES["clos"] and (
                solution is None or solution.get("status") != ACCEPTED):
            problems.append(Msg("solution non acceptée par le demandeur"))
        return problems


def _missing_target(lk: Lookup, match: dict[str, Any], sub: str, itemtype: str, wanted: str) -> str | None:
    """None when ``wanted`` is among the article's targets of ``itemtype``; else the targets it has."""
    field = "profiles_id" if itemtype == "Profile" else "entities_id"
    rows = _sub(match, sub)
    if any(names_tree(lk, itemtype, r.get(field), wanted) for r in rows):
        return None
    return ", ".join(lk.label(itemtype, r.get(field)) for r in rows) or "-"


class KbArticle(_GlpiCheck):
    """Un article de la base de connaissances sur « {subject} » est publié dans GLPI.

    Its title contains ``subject``; created after ``after``; its answer has at least ``min_words``
    words; ``profile``/``entity``: it is a target of the article (visible to that profile, or in that
    entity). The grader's GLPI profile must see every article (« Administration de la base de
    connaissances » in read), or an article hidden from it reads as absent.
    """

    id = "helpdesk.kb_article"
    usually_serves = ("CP3.5",)
    example = "{subject: 'alimentation', after: '2026-06-15T08:30:00+02:00', profile: Technician, min_words: 30}"
    what = Msg("L'article")

    class Params(_Params):
        subject: str = Field(min_length=1)
        profile: str | None = None
        entity: str | None = None
        min_words: int = Field(default=1, ge=1)

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"glpi": lookup("kb", "KnowbaseItem", name=params.subject)}

    def expectation(self, params: Params) -> Msg:
        return Msg("un article sur « {subject} »", subject=params.subject)

    def matches(self, lk: Lookup, params: Params) -> list[dict[str, Any]]:
        return [m for m in lk.items if folded(params.subject) in folded(m["item"].get("name"))]

    def describe(self, lk: Lookup, match: dict[str, Any]) -> str:
        a = match["item"]
        return f"#{a.get('id')} « {a.get('name')} » créé {a.get('date_creation') or a.get('date')}"

    def problems(self, lk: Lookup, params: Params, match: dict[str, Any]) -> Problems:
        a, problems = match["item"], Problems()
        _created_after(lk, a, params.after, problems, "date_creation" if a.get("date_creation") else "date")
        if words(a.get("answer")) < params.min_words:
            problems.append(Msg("réponse de {n} mots", n=words(a.get("answer"))))
        if params.profile:
            seen = _missing_target(lk, match, "KnowbaseItem_Profile", "Profile", params.profile)
            if seen is not None:
                problems.append(Msg("visible des profils {seen}, pas de {wanted}", seen=seen, wanted=params.profile))
        if params.entity:
            seen = _missing_target(lk, match, "Entity_KnowbaseItem", "Entity", params.entity)
            if seen is not None:
                problems.append(Msg("visible des entités {seen}, pas de {wanted}", seen=seen, wanted=params.entity))
        return problems


class Asset(_GlpiCheck):
    """L'équipement {name} est inventorié dans GLPI.

    ``itemtype``: Computer (default), Monitor, NetworkEquipment, Peripheral, Phone or Printer; its
    exact ``name``; ``serial``, ``inventory`` (numéro d'inventaire), ``location``, ``user`` (login or
    « Prénom Nom ») compared when given; ``ticket``: a part of the title of a ticket it is linked to;
    ``after``: the record was updated (``date_mod``) after that moment (the exam's start).
    """

    id = "helpdesk.asset"
    usually_serves = ("CP1.4",)
    example = ("{name: C07-PC12, serial: 5CG1234XYZ, inventory: INV-2026-0012, location: 'Bureau 12', "
               "user: jdupont, ticket: 'ne démarre plus', after: '2026-06-15T08:30:00+02:00'}")
    what = Msg("L'équipement")

    class Params(_Params):
        itemtype: Literal[ASSET_TYPES] = "Computer"  # type: ignore[valid-type]
        name: str = Field(min_length=1)
        serial: str | None = None
        inventory: str | None = None
        location: str | None = None
        user: str | None = None
        ticket: str | None = None

    def probes(self, params: Params) -> Mapping[str, Probe]:
        return {"glpi": lookup("asset", params.itemtype, name=params.name)}

    def expectation(self, params: Params) -> Msg:
        return Msg("{itemtype} {name} inventorié", itemtype=params.itemtype, name=params.name)

    def matches(self, lk: Lookup, params: Params) -> list[dict[str, Any]]:
        return [m for m in lk.items if folded(m["item"].get("name")) == folded(params.name)]

    def describe(self, lk: Lookup, match: dict[str, Any]) -> str:
        a = match["item"]
        return (f"{a.get('name')} n° {a.get('serial')}, inventaire {a.get('otherserial')}, "
                f"{lk.label('Location', a.get('locations_id'))}, {lk.label('User', a.get('users_id'))}, "
                f"modifié {a.get('date_mod')}")

    def problems(self, lk: Lookup, params: Params, match: dict[str, Any]) -> Problems:
        a, problems = match["item"], Problems()
        _created_after(lk, a, params.after, problems, "date_mod")
        for field, wanted, label in (("serial", params.serial, Msg("numéro de série")),
                                     ("otherserial", params.inventory, Msg("numéro d'inventaire"))):
            if wanted is not None and folded(a.get(field)) != folded(wanted):
                problems.append(Msg("{label} {seen} au lieu de {wanted}", label=label, seen=str(a.get(field)),
                                    wanted=wanted))
        if params.location and not names_tree(lk, "Location", a.get("locations_id"), params.location):
            problems.append(Msg("lieu {seen} au lieu de {wanted}", wanted=params.location,
                                seen=lk.label("Location", a.get("locations_id"))))
        if params.user and not names_user(lk, a.get("users_id"), params.user):
            problems.append(Msg("utilisateur {seen} au lieu de {wanted}", wanted=params.user,
                                seen=lk.label("User", a.get("users_id"))))
        if params.ticket:
            titles = [str((lk.name("Ticket", r.get("tickets_id")) or {}).get("name") or "")
                      for r in _sub(match, "Item_Ticket")]
            if not any(folded(params.ticket) in folded(t) for t in titles):
                problems.append(Msg("lié aux tickets {seen}, aucun « {wanted} »",
                                    seen=", ".join(t for t in titles if t) or "-", wanted=params.ticket))
        return problems


CHECKS: tuple[type[Check], ...] = (Ticket, TicketSolved, KbArticle, Asset)
