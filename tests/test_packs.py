"""Exam packs (issue #14 §4): loading and validation, the candidate's instruction sheet, incidents off by default.

The end-to-end proof of a pack (its lab booted twice, graded, solved, broken) is
tests/test_pack_lab.py; here, everything that needs no lab.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from grader import incidents, packs
from grader.cli import pack as pack_cli
from grader.cli.common import FrenchGroup
from grader.errors import RubricError, UsageError
from grader.store import Store

CCP2 = "ccp2-infra-centralisee"
CCS = "ccs-linux"
CCP1 = "ccp1-assistance"


def make_app() -> typer.Typer:
    app = typer.Typer(rich_markup_mode=None, cls=FrenchGroup, no_args_is_help=True)

    @app.callback()
    def root() -> None:
        """grader"""

    pack_cli.register(app)
    return app


def invoke(*args: str):
    return CliRunner().invoke(make_app(), list(args))


def test_every_shipped_pack_loads_and_is_complete() -> None:
    folders = packs.available()
    assert {CCP1, CCP2, CCS} <= {f.name for f in folders}
    for folder in folders:
        pack = packs.load_pack(folder.name)
        assert pack.rubric.session == pack.spec.session == pack.spec.certificate.lower()
        assert all(entry.task.strip() for entry in pack.rubric.checks)
        assert len(pack.incidents) == 3  # the issue: three phase-2 incidents per pack
        checks = {c.id for c in pack.rubric.checks}
        assert all(i.check in checks for i in pack.incidents)
        assert pack.consignes_path.is_file() and pack.roster_path.is_file()


def test_ccp2_covers_its_certificate_with_the_labs_real_checks() -> None:
    from grader.referential import load_referential

    pack = packs.load_pack("ccp2")  # the start of exactly one name
    assert pack.name == CCP2 and pack.lab == "grader.lab.packs.ccp2"
    ref = load_referential()
    competences = {ref.competence_of(c.criterion).code for c in pack.rubric.checks}
    assert competences == {"CP5", "CP6", "CP8", "CP9"}  # CP7 (virtualisation): the jury's, said on the sheet
    assert 12 <= len(pack.rubric.checks) <= 20


def test_lab_module_addresses_match_the_rubric_and_the_sample_roster() -> None:
    from grader.lab.packs import ccp2
    from grader.roster import load_roster

    pack = packs.load_pack(CCP2)
    specs = ccp2.specs(["01", "02"])
    assert {s.name for s in specs} == {f"c{c}-{h}" for c in ("01", "02") for h in ccp2.HOSTS}
    roster = load_roster(pack.roster_path, pack.rubric)
    for candidate in roster[:2]:
        assert candidate.variables["reseau"] == ccp2.variables(candidate.id)["reseau"]
        for host in pack.rubric.hosts:
            ip = next(s.ip for s in specs if s.name == f"c{candidate.id}-{host.name}")
            assert host.address.replace("{{ reseau }}", candidate.variables["reseau"]) == ip
    solution = ccp2.specs(["01"], "solution")
    assert all(s.setup is not None for s in solution)
    with pytest.raises(Exception, match="état de labo inconnu"):
        ccp2.specs(["01"], "fini")


CCP3 = "ccp3-infra-distribuee"


def test_ccp3_covers_the_mise_en_situation_and_supervision_with_the_labs_real_checks() -> None:
    from grader.referential import load_referential

    pack = packs.load_pack("ccp3")
    assert pack.name == CCP3 and pack.lab == "grader.lab.packs.ccp3" and pack.rubric.session == "ccp3"
    ref = load_referential()
    competences = {ref.competence_of(c.criterion).code for c in pack.rubric.checks}
    # CP10, CP11, CP12: the session table's mise en situation; CP13 observed for the entretien; CP14, CP15: the jury's
    assert competences == {"CP10", "CP11", "CP12", "CP13"}
    assert 12 <= len(pack.rubric.checks) <= 18
    assert {i.check for i in pack.incidents} == {"vpn-tunnel", "supervision-hotes", "journaux-recus"}
    sheet = packs.consignes(pack)
    for entry in pack.rubric.checks:
        assert entry.id not in sheet and entry.check not in sheet and entry.hint not in sheet
    for incident in pack.incidents:
        assert incident.command not in sheet and incident.title not in sheet
    assert "### CP10 — " in sheet and "### CP13 — " in sheet and "CP14 (Intervenir dans un environnement" in sheet


def test_ccp3_lab_module_matches_the_rubric_the_roster_and_the_vpn() -> None:
    from grader.lab import vpn
    from grader.lab.packs import ccp3
    from grader.roster import load_roster

    pack = packs.load_pack(CCP3)
    specs = {s.name: s for s in ccp3.specs(["01", "02"])}
    assert set(specs) == {f"c{c}-{h}" for c in ("01", "02") for h in ccp3.HOSTS}
    assert {h.name for h in pack.rubric.hosts} == set(ccp3.HOSTS)
    roster = load_roster(pack.roster_path, pack.rubric)
    for candidate in roster[:2]:
        assert candidate.variables["reseau"] == ccp3.variables(candidate.id)["reseau"]
        for host in pack.rubric.hosts:
            assert host.address.replace("{{ reseau }}", candidate.variables["reseau"]) == \
                specs[f"c{candidate.id}-{host.name}"].ip
    # the VPN's two ends can open /dev/net/tun; the LAN routes the tunnel's network back through the router
    assert specs["c01-routeur"].tun and specs["c01-srv-wan"].tun
    assert (vpn.tunnel_net("01"), "10.77.1.65") in specs["c01-pc-lan"].routes
    # the start state: nothing of the candidate's work (no setup beyond the lab's own)
    assert specs["c01-dc"].setup is None
    assert all(s.setup is not None for s in ccp3.specs(["01"], "solution"))
    with pytest.raises(Exception, match="état de labo inconnu"):
        ccp3.specs(["01"], "fini")


def test_ccs_covers_the_mise_en_situation_competences_only() -> None:
    from grader.referential import load_referential

    pack = packs.load_pack("ccs")
    assert pack.name == CCS and pack.lab == "grader.lab.packs.ccs" and pack.rubric.session == "ccs"
    ref = load_referential()
    competences = {ref.competence_of(c.criterion).code for c in pack.rubric.checks}
    # the RC's CCS session table: CCS1, CCS3, CCS5 in the mise en situation; CCS2, CCS4 on the report
    assert competences == {"CCS1", "CCS3", "CCS5"}
    assert "CCS3" in {c.criterion for c in pack.rubric.checks}  # no RC criterion: the competence itself
    assert 12 <= len(pack.rubric.checks) <= 18
    assert {i.host for i in pack.incidents} == {"srv-web", "supervision"}


def test_ccs_lab_module_addresses_match_the_rubric_and_the_sample_roster() -> None:
    from grader.lab.packs import ccs
    from grader.roster import load_roster

    pack = packs.load_pack(CCS)
    specs = ccs.specs(["01", "02"])
    assert {s.name for s in specs} == {f"c{c}-{h}" for c in ("01", "02") for h in ccs.HOSTS}
    assert {h.name for h in pack.rubric.hosts} == set(ccs.HOSTS)
    roster = load_roster(pack.roster_path, pack.rubric)
    for candidate in roster[:2]:
        assert candidate.variables["reseau"] == ccs.variables(candidate.id)["reseau"]
        for host in pack.rubric.hosts:
            ip = next(s.ip for s in specs if s.name == f"c{candidate.id}-{host.name}")
            assert host.address.replace("{{ reseau }}", candidate.variables["reseau"]) == ip
    assert all(s.setup is not None for s in ccs.specs(["01"], "solution"))
    with pytest.raises(Exception, match="état de labo inconnu"):
        ccs.specs(["01"], "fini")


def test_ccs_start_state_is_planted_and_the_server_runs_no_router_daemon(tmp_path: Path) -> None:
    from grader.lab.packs import ccs

    wants = tmp_path / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    for unit in ("dnsmasq.service", "squid.service", "apache2.service"):
        (wants / unit).symlink_to(f"/lib/systemd/system/{unit}")
    ccs._plant_server(tmp_path)
    assert sorted(p.name for p in wants.iterdir()) == ["apache2.service"]
    assert "Extranet clients" in (tmp_path / "srv/extranet/index.html").read_text(encoding="utf-8")
    assert (tmp_path / "etc/systemd/system/sockets.target.wants/grader-temoin.socket").is_symlink()  # port 7777


def test_ccp1_covers_the_mise_en_situation_around_collaborative_resources() -> None:
    from grader.referential import load_referential

    pack = packs.load_pack("ccp1")
    assert pack.name == CCP1 and pack.lab == "grader.lab.packs.ccp1" and pack.rubric.session == "ccp1"
    ref = load_referential()
    points: dict[str, float] = {}
    for entry in pack.rubric.checks:
        code = ref.competence_of(entry.criterion).code
        points[code] = points.get(code, 0) + entry.points
    # CP4 is the scenario (the most points); CP1 and CP3 where a machine shows them; CP2 (answer,
    # communication) is the jury's
    assert set(points) == {"CP1", "CP3", "CP4"}
    assert points["CP4"] > max(p for code, p in points.items() if code != "CP4")
    assert 10 <= len(pack.rubric.checks) <= 16
    assert {i.check for i in pack.incidents} == {"ad-user-lea", "partage-projets", "espace-projets"}
    assert {i.host for i in pack.incidents} == {"dc", "srv-lin"}
    sheet = packs.consignes(pack)
    assert "### CP1 — " in sheet and "### CP3 — " in sheet and "### CP4 — " in sheet
    assert "La compétence CP2 (Assister les utilisateurs sur leurs équipements numériques) est évaluée par le jury" in sheet
    for entry in pack.rubric.checks:
        assert entry.id not in sheet and entry.check not in sheet and entry.hint not in sheet
    for incident in pack.incidents:
        assert incident.command not in sheet and incident.title not in sheet


def test_ccp1_lab_module_addresses_match_the_rubric_and_the_sample_roster() -> None:
    from grader.lab.packs import ccp1
    from grader.roster import load_roster

    pack = packs.load_pack(CCP1)
    specs = {s.name: s for s in ccp1.specs(["01", "02"])}
    assert set(specs) == {f"c{c}-{h}" for c in ("01", "02") for h in ccp1.HOSTS}
    assert {h.name for h in pack.rubric.hosts} == set(ccp1.HOSTS)
    roster = load_roster(pack.roster_path, pack.rubric)
    for candidate in roster[:2]:
        assert candidate.variables["reseau"] == ccp1.variables(candidate.id)["reseau"]
        for host in pack.rubric.hosts:
            assert host.address.replace("{{ reseau }}", candidate.variables["reseau"]) == \
                specs[f"c{candidate.id}-{host.name}"].ip
    assert specs["c01-dc"].flavor == "dc"
    # the start state: nothing of the candidate's work (no setup beyond the lab's own)
    assert all(s.setup is None for s in ccp1.specs(["01"]))
    assert all(s.setup is not None for s in ccp1.specs(["01"], "solution"))
    with pytest.raises(Exception, match="état de labo inconnu"):
        ccp1.specs(["01"], "fini")


def test_ccp1_solution_matches_the_rubric() -> None:
    """The reference solution plants what the checks ask: logins, group, folder, GPO values, homepage."""
    from grader.lab.packs import ccp1

    checks = {c.id: c.params for c in packs.load_pack(CCP1).rubric.checks}
    logins = [login for login, *_ in ccp1.USERS]
    assert checks["ad-group-projets"]["members"] == logins and checks["ad-group-projets"]["name"] == ccp1.GROUP
    assert {checks["ad-user-lea"]["login"], checks["ad-user-hugo"]["login"]} == set(logins)
    assert checks["partage-projets"]["path"] == ccp1.SHARE and checks["partage-projets"]["group"] == ccp1.LINUX_GROUP
    assert checks["gpo-lien"]["gpo"] == ccp1.GPO_NAME and checks["gpo-lien"]["target"] == ccp1.TEAM_OU
    assert checks["gpo-page-accueil"]["data"] == ccp1.HOMEPAGE and checks["gpo-page-accueil"]["key"] == ccp1.EDGE_KEY
    assert checks["gpo-ecran-delai"]["key"] == ccp1.DESKTOP_KEY
    assert checks["espace-projets"]["contains"] in ccp1.SPACE_HTML
    assert checks["page-securite"]["contains"] in ccp1.SECURITY_HTML
    assert checks["fiche-connaissances"]["contains"] in ccp1.KB_HTML


def test_consignes_send_competences_outside_the_mise_en_situation_to_their_modality() -> None:
    sheet = packs.consignes(packs.load_pack(CCS))
    assert "### CCS1 — " in sheet and "### CCS3 — " in sheet and "### CCS5 — " in sheet
    assert ("Les compétences CCS2 (Mettre une application en production), CCS4 (S'appuyer sur les communautés "
            "d'utilisateurs) ne sont pas évaluées dans cette mise en situation, mais par le jury (questionnement "
            "à partir de productions).") in sheet
    assert "phase 2" not in sheet  # nothing of the CCS is left to a phase 2 of this sheet
    for entry in packs.load_pack(CCS).rubric.checks:
        assert entry.id not in sheet and entry.check not in sheet


def test_write_roster_gives_the_booted_room(tmp_path: Path) -> None:
    from grader.lab.packs import ccp2, write_roster

    path = write_roster(ccp2, ["01", "02"], tmp_path / "c.csv")
    assert path.read_text().splitlines() == ["candidat;nom;reseau", "01;Candidat 01;10.77.1", "02;Candidat 02;10.77.2"]


def test_consignes_are_up_to_date_with_grader_pack_consignes() -> None:
    for folder in packs.available():
        result = invoke("pack", "consignes", folder.name)
        assert result.exit_code == 0, result.output
        committed = packs.load_pack(folder.name).consignes_path.read_text(encoding="utf-8")
        assert result.output == committed, f"régénérez : grader pack consignes {folder.name} -o {folder}/consignes.md"


def test_consignes_state_tasks_never_the_checks() -> None:
    pack = packs.load_pack(CCP2)
    sheet = packs.consignes(pack)
    for entry in pack.rubric.checks:
        assert entry.id not in sheet and entry.check not in sheet
        assert entry.hint not in sheet
    for incident in pack.incidents:  # phase 2 is the jury's surprise
        assert incident.command not in sheet and incident.title not in sheet
    assert "{{" not in sheet and "‹reseau›.10" in sheet
    assert "### CP8 — " in sheet and "CP7 (Maintenir et exploiter un environnement virtualisé)" in sheet
    assert "Créer l'unité d'organisation « Comptabilité »" in sheet


def _copy_pack(tmp_path: Path) -> Path:
    folder = tmp_path / CCP2
    shutil.copytree(packs.find(CCP2), folder)
    return folder


def test_a_broken_pack_is_refused_with_every_problem(tmp_path: Path) -> None:
    folder = _copy_pack(tmp_path)
    spec = (folder / "pack.yaml").read_text(encoding="utf-8")
    spec = spec.replace("check: site-intranet", "check: site-absent").replace("host: routeur\n", "host: box\n")
    (folder / "pack.yaml").write_text(spec, encoding="utf-8")
    rubric = (folder / "rubric.yaml").read_text(encoding="utf-8")
    rubric = rubric.replace("session: ccp2", "session: ccp3")
    rubric = rubric.replace('    task: "Interdire toute connexion SSH directe du compte root à srv-lin."\n', "")
    (folder / "rubric.yaml").write_text(rubric, encoding="utf-8")
    (folder / "consignes.md").unlink()
    with pytest.raises(RubricError) as caught:
        packs.load_pack(folder)
    said = "\n".join(caught.value.problems)
    assert "site-absent" in said and "'box'" in said and "session: 'ccp3'" in said
    assert "checks.sshd-root: pas de « task: »" in said and "consignes.md: fichier absent" in said


def test_unknown_or_ambiguous_pack_names_are_said(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="paquet introuvable.*ccp2-infra-centralisee"):
        packs.find("ccp9")
    for name in ("ccp-a", "ccp-b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pack.yaml").write_text("pack: x\n")
    with pytest.raises(RubricError, match="ambigu"):
        packs.find("ccp", tmp_path)


def test_task_templates_are_checked_like_hints(tmp_path: Path) -> None:
    from grader.rubric import load_rubric

    folder = _copy_pack(tmp_path)
    rubric = (folder / "rubric.yaml").read_text(encoding="utf-8").replace(
        "Interdire toute connexion SSH directe du compte root à srv-lin.", "{{ reseua }} interdit root")
    (folder / "rubric.yaml").write_text(rubric, encoding="utf-8")
    with pytest.raises(RubricError) as caught:
        load_rubric(folder / "rubric.yaml")
    assert any("reseua" in p and "task" in p for p in caught.value.problems)


# --- incidents: off by default, recorded ---------------------------------------------------------------

def test_incident_inject_refuses_without_yes_or_author_and_runs_nothing(tmp_path: Path) -> None:
    session = tmp_path / "session"
    for args, said in ((["--author", "Mme Martin"], "--yes"), (["--yes"], "--author")):
        result = invoke("incident", "inject", "intranet-arrete", "--pack", CCP2, "--candidate", "01",
                        "--session", str(session), *args)
        assert result.exit_code != 0
        assert isinstance(result.exception, UsageError) and said in str(result.exception)
    assert not session.exists()  # nothing opened, nothing recorded, nothing run
    result = invoke("incident", "inject", "inconnu", "--pack", CCP2, "--candidate", "01", "--yes", "--author", "X")
    assert isinstance(result.exception, RubricError) and "incident inconnu" in str(result.exception)


def test_inject_without_confirmation_or_author_never_calls_the_host(tmp_path: Path) -> None:
    pack = packs.load_pack(CCP2)
    called: list[tuple[str, str]] = []

    def runner(host: str, command: str) -> tuple[int, str]:
        called.append((host, command))
        return 0, ""

    with incidents.open_session_store(tmp_path / "s") as store:
        with pytest.raises(UsageError):
            incidents.inject(pack, "intranet-arrete", "01", "Mme Martin", store=store, runner=runner, confirmed=False)
        with pytest.raises(UsageError):
            incidents.inject(pack, "intranet-arrete", "01", "   ", store=store, runner=runner)
        assert store.incidents() == [] and called == []


def test_inject_records_who_when_what_and_the_outcome(tmp_path: Path) -> None:
    pack = packs.load_pack(CCP2)

    def runner(host: str, command: str) -> tuple[int, str]:
        if host == "dc":
            raise OSError("hôte injoignable")
        return (0, "") if host == "srv-lin" else (1, "sysctl: permission denied")

    with incidents.open_session_store(tmp_path / "s") as store:
        row = incidents.inject(pack, "intranet-arrete", "01", "  Mme   Martin ", store=store, runner=runner)
        incidents.inject(pack, "internet-coupe", "01", "M. Durand", store=store, runner=runner)
        incidents.inject(pack, "alice-sans-acces", "02", "M. Durand", store=store, runner=runner)
    assert row["author"] == "Mme Martin" and row["created"] and row["exit_code"] == 0
    store = Store(tmp_path / "s")
    try:
        mine = store.incidents("01")
        assert [(r["incident"], r["host"], r["check_id"], r["exit_code"]) for r in mine] == [
            ("intranet-arrete", "srv-lin", "site-intranet", 0), ("internet-coupe", "routeur", "nat-fonctionne", 1)]
        assert mine[0]["command"] == "/usr/bin/systemctl stop apache2.service" and mine[0]["pack"] == CCP2
        assert "permission denied" in mine[1]["output"]
        other = store.incidents("02")[0]
        assert other["exit_code"] is None and "injoignable" in other["output"]
    finally:
        store.close()


def test_the_candidate_report_shows_the_incidents(tmp_path: Path) -> None:
    from reports import aggregate, html
    from tests.reports.test_reports import build_store

    store, run_id = build_store(tmp_path)
    try:
        store.add_incident(candidate="01", incident="intranet-arrete", pack=CCP2, title="L'intranet ne répond plus",
                           host="srv-lin", command="/usr/bin/systemctl stop apache2.service", check_id="site-intranet",
                           author="Mme Martin", exit_code=0)
        frames = aggregate.load_frames(store, run_id)
        page = html.render_candidate(frames, "01")
        assert "Incidents de la phase 2" in page and "décidé par Mme Martin" in page
        assert "systemctl stop apache2.service" in page and "site-intranet" in page
        assert "Incidents de la phase 2" not in html.render_candidate(frames, "02")
        assert "Phase-2 incidents" in html.render_candidate(aggregate.load_frames(store, run_id, lang="en"), "01",
                                                               lang="en")
    finally:
        store.close()
