"""The ``helpdesk.*`` checks graded for real through the ``glpi`` channel against the GLPI stand-in on loopback.

A rubric is loaded, planned and graded (``grade_host``, the store): the channel opens one API session with
the user token and the app token, answers every lookup in it and kills it, even when GLPI refuses it
midway. The candidate who is wrong in a way a configuration reader would miss: the ticket is all there,
but GLPI recorded it before the exam started (its opening date was typed to look recent).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from grader.model import Status
from tests.standin import stored_bytes

RUBRIC = """\
rubric: glpi-demo
title: "GLPI"
version: "1"
credentials:
  glpi-user:
    username: grader-api
    password_env: GLPI_USER_TOKEN
  glpi-app:
    username: grader
    password_env: GLPI_APP_TOKEN
hosts:
  - name: glpi
    role: service desk
    platform: linux
    address: 127.0.0.1
    transport: glpi
    credential: glpi-user
    options:
      glpi: {app_credential: glpi-app, scheme: http, port: PORT}
checks:
  - id: ticket
    check: helpdesk.ticket
    host: glpi
    params: {title: ne démarre plus, after: '2026-06-15T08:30:00+02:00', category: Poste de travail,
             type: incident, urgency: 4, requester: Jean Dupont, technician: c07.tech, status: [resolu, clos]}
    criterion: CP3.1
    points: 1
  - id: solved
    check: helpdesk.ticket_solved
    host: glpi
    params: {title: ne démarre plus, after: '2026-06-15T08:30:00+02:00', min_words: 15, accepted: true}
    criterion: CP3.4
    points: 1
  - id: kb
    check: helpdesk.kb_article
    host: glpi
    params: {subject: bloc d'alimentation, after: '2026-06-15T08:30:00+02:00', profile: Technician, min_words: 20}
    criterion: CP3.5
    points: 1
  - id: asset
    check: helpdesk.asset
    host: glpi
    params: {name: C07-PC12, serial: 5CG1234XYZ, inventory: INV-2026-0012, location: Bureau 12, user: jdupont,
             ticket: ne démarre plus, after: '2026-06-15T08:30:00+02:00'}
    criterion: CP1.4
    points: 1
"""
USER_TOKEN, APP_TOKEN = "grader-user-token", "grader-app-token"


def catalogue() -> dict[str, Any]:
    """The installed catalogue, with the helpdesk pack registered when the installed metadata lacks it."""
    import checks.helpdesk
    from grader.plugins import collect_checks, default_catalogue, get_plugin_manager

    found = default_catalogue()
    if "helpdesk.ticket" in found:
        return found
    return collect_checks(get_plugin_manager(extra=(checks.helpdesk,)))


def graded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: dict[str, Any] | None = None,
           user: str = USER_TOKEN, app: str = APP_TOKEN, expire_after: int | None = None):
    from grader.lab.glpi_standin.server import serving
    from grader.roster import Candidate
    from grader.rubric import load_rubric
    from grader.runner import grade_host, plan

    monkeypatch.setenv("GLPI_USER_TOKEN", user)
    monkeypatch.setenv("GLPI_APP_TOKEN", app)
    with serving(data) as server:
        server.expire_after = expire_after
        path = tmp_path / "glpi.yaml"
        path.write_text(RUBRIC.replace("PORT", str(server.port)), encoding="utf-8")
        cat = catalogue()
        rubric = load_rubric(path, cat)
        [job] = plan(rubric, [Candidate("7")], cat)
        report = grade_host(job, None)
    stored = stored_bytes(tmp_path, rubric, report)
    return {r.check_id: r for r in report.results}, stored, server


def statuses(results: dict[str, Any]) -> dict[str, Status]:
    return {k: r.status for k, r in results.items()}


def test_the_right_candidate_is_conforme_in_one_killed_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results, stored, server = graded(tmp_path, monkeypatch)
    assert statuses(results) == dict.fromkeys(("ticket", "solved", "kb", "asset"), Status.CONFORME), \
        {k: r.message for k, r in results.items()}
    inits = [h for line, h in server.seen if "/initSession" in line]
    assert len(inits) == 1 and inits[0]["Authorization"] == f"user_token {USER_TOKEN}"
    assert all(h.get("App-Token") == APP_TOKEN for _, h in server.seen)
    assert server.seen[-1][0].endswith("/killSession") and not server.sessions and len(server.killed) == 1
    assert all(USER_TOKEN not in line and APP_TOKEN not in line for line, _ in server.seen)  # headers only
    assert USER_TOKEN.encode() not in stored and APP_TOKEN.encode() not in stored and b"grader-api" in stored


def test_a_ticket_recorded_before_the_start_is_non_conforme_though_its_opening_date_says_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.lab.glpi_standin.server import seed

    data = seed()
    data["Ticket"]["12"]["date_creation"] = "2026-06-14 17:40:00"  # the day before; "date" (typed) stays 10:05
    data["Computer"]["5"]["date_mod"] = "2026-06-14 17:45:00"  # the asset record not updated during the exam
    results, _, _ = graded(tmp_path, monkeypatch, data)
    assert statuses(results) == {"ticket": Status.NON_CONFORME, "solved": Status.NON_CONFORME,
                                 "kb": Status.CONFORME, "asset": Status.NON_CONFORME}
    said = str(results["ticket"].message)
    assert "avant le début de l'épreuve" in said and "date d'ouverture saisie : 2026-06-15 10:05:00" in said


def test_the_dates_are_read_in_glpi_s_time_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """08:40 at UTC-05:00 is 15:40 in Paris: after an 08:30+02:00 start, whatever the grader's zone."""
    from grader.lab.glpi_standin.server import seed

    data = seed()
    data["_timezone"] = "-05:00"
    data["Ticket"]["12"]["date_creation"] = "2026-06-15 01:40:00"  # 08:40 +02:00: after the start
    data["KnowbaseItem"]["8"]["date_creation"] = "2026-06-15 01:20:00"  # 08:20 +02:00: before it
    results, _, _ = graded(tmp_path, monkeypatch, data)
    assert results["ticket"].status == Status.CONFORME
    assert results["kb"].status == Status.NON_CONFORME


@pytest.mark.parametrize("user, app, code", [(USER_TOKEN, "wrong-app", "ERROR_WRONG_APP_TOKEN_PARAMETER"),
                                             ("wrong-user", APP_TOKEN, "ERROR_GLPI_LOGIN_USER_TOKEN")])
def test_a_refused_token_is_erreur_with_glpi_s_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     user: str, app: str, code: str) -> None:
    results, stored, _ = graded(tmp_path, monkeypatch, user=user, app=app)
    assert set(statuses(results).values()) == {Status.ERREUR}
    assert all(code in str(r.message) for r in results.values())
    assert b"wrong-app" not in stored and b"wrong-user" not in stored


def test_a_session_expired_midway_is_erreur_and_still_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results, _, server = graded(tmp_path, monkeypatch, expire_after=3)
    assert set(statuses(results).values()) == {Status.ERREUR}
    assert all("ERROR_SESSION_TOKEN_INVALID" in str(r.message) for r in results.values())
    assert server.seen[-1][0].endswith("/killSession")


def test_a_list_glpi_refuses_to_show_is_erreur_not_non_conforme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.lab.glpi_standin.server import seed

    data = seed()
    data["_denied"] = ["TicketTask"]
    data["ITILFollowup"] = []  # no follow-up: only the tasks, unreadable, could prove the work
    results, _, _ = graded(tmp_path, monkeypatch, data)
    assert results["solved"].status == Status.ERREUR and "TicketTask" in str(results["solved"].message)
    assert results["ticket"].status == Status.CONFORME


# --- the judges alone, on hand-made lookups ---------------------------------------------------------


def lookup_result(doc: dict[str, Any]):
    from grader.model import ProbeResult

    return ProbeResult(key="glpi-x", transport="glpi", command="ticket {}", stdout=json.dumps(doc), exit_code=0)


def ticket_doc(**changes: Any) -> dict[str, Any]:
    ticket = {"id": 1, "name": "Écran noir", "status": 5, "type": 2, "date": "2026-06-15 09:00:00",
              "date_creation": "2026-06-15 09:00:00", "itilcategories_id": 0}
    ticket.update(changes)
    return {"clock": {"glpi": "2026-06-15 12:00:00", "utc": "2026-06-15T10:00:00.250+00:00"}, "total": 1,
            "names": {}, "errors": [],
            "items": [{"item": ticket, "sub": {"Ticket_User": [], "ITILFollowup": [{"id": 1, "content": "vu"}],
                                               "TicketTask": [], "Item_Ticket": [],
                                               "ITILSolution": [{"id": 3, "status": 2,
                                                                 "content": "&#60;p&#62;Câble remis&#60;/p&#62;"}]}}]}


def judge(check_id: str, params: dict[str, Any], doc: dict[str, Any]):
    cls = catalogue()[check_id]
    check = cls()
    return check.judge(cls.Params(**params), {"glpi": lookup_result(doc)})


def test_a_two_word_solution_is_too_short_and_a_pending_one_not_accepted() -> None:
    verdict = judge("helpdesk.ticket_solved", {"title": "écran", "min_words": 5, "accepted": True}, ticket_doc())
    assert verdict.status == Status.NON_CONFORME
    assert "solution de 2 mots" in str(verdict.message) and "non acceptée" in str(verdict.message)


def test_more_matches_than_read_is_erreur() -> None:
    doc = ticket_doc(type=1)
    doc["total"] = 40
    verdict = judge("helpdesk.ticket", {"title": "écran", "type": "demande"}, doc)
    assert verdict.status == Status.ERREUR


def test_an_unknown_clock_cannot_date_a_ticket() -> None:
    doc = ticket_doc()
    doc["clock"] = None
    verdict = judge("helpdesk.ticket", {"title": "écran", "after": "2026-06-15T08:30:00+02:00"}, doc)
    assert verdict.status == Status.ERREUR
    assert judge("helpdesk.ticket", {"title": "écran"}, doc).status == Status.CONFORME


def test_the_clock_offset_is_rounded_to_the_quarter() -> None:
    from datetime import timedelta

    from checks.helpdesk._glpi import clock_offset

    assert clock_offset({"glpi": "2026-06-15 12:00:00", "utc": "2026-06-15T10:00:02+00:00"}) == timedelta(hours=2)
    assert clock_offset({"glpi": "2026-06-15 04:29:59", "utc": "2026-06-15T10:00:00+00:00"}) == timedelta(
        hours=-5, minutes=-30)
    assert clock_offset({"glpi": "?"}) is None


# --- the channel alone ------------------------------------------------------------------------------


class _Ref:
    """A rubric credential (``grader.rubric.Credential``'s fields) whose secret is in an environment variable."""

    def __init__(self, username: str, env: str) -> None:
        self.username, self.password_env = username, env
        self.key_file = self.password_file = None
        self.agent = False


def channel_collect(monkeypatch: pytest.MonkeyPatch, port: int, probes: list[Any], address: str = "127.0.0.1"):
    from grader.probes.glpi import GlpiOptions
    from grader.transports.base import HostContext
    from grader.transports.glpi import GlpiChannel

    monkeypatch.setenv("GLPI_USER_TOKEN", USER_TOKEN)
    monkeypatch.setenv("GLPI_APP_TOKEN", APP_TOKEN)
    host = HostContext(name="glpi", address=address, platform="linux", port=None,
                       credential=_Ref("grader-api", "GLPI_USER_TOKEN"),
                       credentials={"app": _Ref("grader", "GLPI_APP_TOKEN")},
                       options=GlpiOptions(app_credential="app", scheme="http", port=port), primary=True,
                       connect_timeout=1.0)
    return GlpiChannel().collect(host, probes)


def test_a_ticket_found_by_a_word_of_its_description(monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.lab.glpi_standin.server import serving
    from grader.probes.glpi import lookup

    probe = lookup("ticket", "Ticket", text="bouton")
    with serving() as server:
        collected = channel_collect(monkeypatch, server.port, [probe])
    doc = json.loads(collected.results[probe.key].stdout)
    assert [i["item"]["id"] for i in doc["items"]] == [12] and doc["errors"] == []
    assert doc["names"]["User/5"]["name"] == "jdupont" and doc["names"]["Ticket/12"]["name"].startswith("Le poste")
    assert "criteria%5B0%5D%5Bfield%5D=21" in next(line for line, _ in server.seen if "/search/" in line)
    assert str(collected.login) == "grader-api (jeton utilisateur GLPI)"


def test_a_glpi_that_does_not_answer_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from grader.errors import Unreachable
    from grader.probes.glpi import lookup

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: the connection is refused
        with pytest.raises(Unreachable):
            channel_collect(monkeypatch, port, [lookup("asset", "Computer", name="x")])


def test_tokens_never_cross_a_network_in_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.errors import TransportError
    from grader.probes.glpi import lookup

    with pytest.raises(TransportError):
        channel_collect(monkeypatch, 80, [lookup("asset", "Computer", name="x")], address="192.0.2.70")


def test_wrong_qualification_is_said_in_words() -> None:
    verdict = judge("helpdesk.ticket", {"title": "écran", "type": "incident", "urgency": 5}, ticket_doc(urgency=3))
    assert verdict.status == Status.NON_CONFORME
    assert "type demande au lieu de incident" in str(verdict.message) and "urgence 3 au lieu de 5" in str(verdict.message)
