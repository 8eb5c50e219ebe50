"""What the checks say (sentences, verdict messages) reaches an English report in English, French unchanged.

The ``checks`` domain (grader/locale/en/LC_MESSAGES/checks.po) has the French texts as msgids:
every registered check's sentence and every ``Msg`` template of the converted packs must have an
English text, and the catalogue holds nothing else. Reports re-render from it and fall back to
the stored French text when they cannot (:mod:`grader.i18n_checks`).
"""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import string
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from checks.linux.packages import PackageInstalled
from checks.linux.services import ServiceActive
from grader import i18n_checks
from grader.check import Check, evaluate
from grader.model import HostOutcome, Msg, ProbeResult, Status, Verdict
from grader.plugins import default_catalogue
from grader.roster import Candidate
from grader.runner import CheckResult, HostReport
from grader.store import Store
from reports import aggregate
from reports.html import render_candidate, write_csv
from tests.checks.conftest import load_capture

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "grader" / "locale" / "en" / "LC_MESSAGES" / "checks.po"


def _po():
    with PO.open("rb") as f:
        return read_po(f, locale="en", domain="checks")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# --- the catalogue ----------------------------------------------------------------------------


def test_every_registered_check_sentence_has_an_english_text() -> None:
    catalog = _po()
    english = {m.id: m.string for m in catalog if m.id}
    missing = sorted(f"{cid}: {cls.sentence_template()}" for cid, cls in default_catalogue().items()
                     if not english.get(cls.sentence_template()))
    assert missing == [], "run scripts/i18n-checks, then write the English of each empty msgstr"
    assert len(default_catalogue()) >= 60


def test_every_msg_of_the_converted_packs_has_an_english_text_and_nothing_is_stale() -> None:
    english = {m.id: m.string for m in _po() if m.id}
    wanted = set(i18n_checks.sentence_msgids()) | set(i18n_checks.message_msgids(ROOT))
    assert sorted(w for w in wanted if not english.get(w)) == []
    assert sorted(set(english) - wanted) == [], "in checks.po, used nowhere: run scripts/i18n-checks"
    assert len(i18n_checks.message_msgids(ROOT)) >= 40  # the linux pack's messages are extracted


def test_english_texts_keep_the_fields_and_are_not_fuzzy() -> None:
    catalog = _po()
    assert not catalog.fuzzy
    bad = [m.id for m in catalog if m.id and (m.fuzzy or (m.string == m.id and _has_words(m.id))
                                              or _fields(m.string) != _fields(m.id))]
    assert bad == []


def _has_words(template: str) -> bool:
    """Letters outside the {fields}: a text to translate, never the same in English (a copy left untranslated)."""
    return re.search(r"[^\W\d_]", re.sub(r"\{\w+(?::[^}]*)?\}", "", template)) is not None


def test_a_template_without_words_may_read_the_same_in_english() -> None:
    assert not _has_words("{key}\\{value} = {type} {data}") and _has_words("{principal} (Kerberos, {layer})")
    assert i18n_checks.translated("{key}\\{value} = {type} {data}", "en") == "{key}\\{value} = {type} {data}"
    assert i18n_checks.translated("Pas dans le catalogue {x}", "en") is None


def test_compiled_mo_is_the_compilation_of_the_po() -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _po(), use_fuzzy=False)
    assert PO.with_suffix(".mo").read_bytes() == compiled.getvalue(), "run scripts/i18n-checks"


def test_meta_test_fails_for_a_check_without_translation() -> None:
    class Untranslated(Check):
        """Le grille-pain {model} est branché."""

        id = "test.toaster"

    english = {m.id: m.string for m in _po() if m.id}
    found = i18n_checks.sentence_msgids({"test.toaster": Untranslated})
    assert [t for t in found if not english.get(t)] == ["Le grille-pain {model} est branché."]


# --- Msg ----------------------------------------------------------------------------------------


def test_msg_keeps_candidate_data_in_values_only() -> None:
    m = Msg("Le paquet {package} n'est pas installé.", package="{0.__class__}{x}")
    assert m.render() == "Le paquet {0.__class__}{x} n'est pas installé."
    english = {m.id: "The package {package} is not installed."}.get
    assert m.render(english, "en") == "The package {0.__class__}{x} is not installed."
    with pytest.raises(LookupError):
        m.render({}.get, "en")  # no translation: the caller keeps the stored text
    assert Msg.from_json(json.loads(json.dumps(m.to_json()))) == m
    for bad in ("positional {}", "index {0}", "attribute {p.x}", "item {p[0]}"):
        with pytest.raises(ValueError):
            Msg(bad, p="x")
    with pytest.raises(ValueError):
        Msg("no value for {package}")


def test_msg_parts_and_lists_are_said_in_the_same_language() -> None:
    m = Msg("Le compte {user} {problems}.", user="bob",
            problems=[Msg("n'appartient pas à {groups}", groups="sudo"), Msg("shell {shell} au lieu de {expected}",
                                                                               shell=Msg("(vide)"), expected="/bin/bash")])
    assert m.render() == "Le compte bob n'appartient pas à sudo ; shell (vide) au lieu de /bin/bash."
    english = m.render(lambda template: i18n_checks.translated(template, "en"), "en")
    assert english == "The account bob: is not a member of sudo; shell (empty) instead of /bin/bash."
    assert Msg.from_json(json.loads(json.dumps(m.to_json()))) == m


def test_verdict_message_given_as_msg_is_stored_text_plus_reference() -> None:
    m = Msg("Le service {unit} est actif.", unit="ssh.service")
    v = Verdict.conforme("active", "actif", m)
    assert v.message == "Le service ssh.service est actif." and v.message_ref == m
    assert v == Verdict.conforme("active", "actif", "Le service ssh.service est actif.")  # same words, same verdict


# --- sentences and messages in the reports ---------------------------------------------------------


def _result(check_id: str, cls: type[Check], params: dict, verdict: Verdict, key: str) -> CheckResult:
    p = cls.Params(**params)
    return CheckResult(check_id=check_id, check_type=cls.id, criterion="CP9.1", points=1.0, sentence=cls.sentence(p),
                       params=p.model_dump(), status=verdict.status, observed=verdict.observed,
                       expected=verdict.expected, message=verdict.message, hint="", probe_keys={"pkg": key},
                       judged_at="2026-11-29T05:00:00+00:00")


def alter_store(store: Store, *statements: str) -> list[int]:
    """Change a stored session behind the store's back (a text edited since, an older grader's NULLs), in one
    transaction; how many rows each statement changed."""
    db = sqlite3.connect(store.path)
    try:
        with db:
            return [db.execute(sql).rowcount for sql in statements]
    finally:
        db.close()


def session_with(tmp_path: Path, results: list[CheckResult]) -> tuple[Store, str]:
    """A session whose one run holds ``results``, for candidate 01 on host srv."""
    store = Store(tmp_path / "session")
    rubric = SimpleNamespace(rubric="r", title="Barème", version="1", source=None, text="checks: []\n")
    run_id = store.new_run(run_id="run-1", rubric=rubric, roster_text="id\n", candidates=[Candidate("01", "Alice")])
    store.save_host(run_id, HostReport("01", "srv", "10.0.0.1", "linux", "ssh", "grader",
                                       HostOutcome(True, execs=1, status=Status.CONFORME),
                                       "2026-11-29T05:00:00+00:00", 1.0, [], results))
    return store, run_id


def _store(tmp_path: Path) -> tuple[Store, str]:
    """One candidate, one host: a linux package check (not installed), a service check, a foreign check."""
    pkg = {"package": "nginx"}
    v_pkg = evaluate(PackageInstalled(), PackageInstalled.Params(**pkg), {"pkg": load_capture("dpkg_nginx_unknown.txt")})
    assert v_pkg.status is Status.NON_CONFORME and v_pkg.message_ref is not None
    svc = {"service": "ssh"}
    v_svc = Verdict.erreur(Msg("systemctl n'a pas pu être exécuté : {reason}", reason="délai dépassé"))
    foreign = CheckResult(check_id="ailleurs", check_type="acme.toaster", criterion="CP9.1", points=1.0,
                          sentence="Le grille-pain est branché.", params={}, status=Status.CONFORME, observed="",
                          expected="", message="Tout va bien.", hint="", probe_keys={}, judged_at="2026-11-29T05:00:00+00:00")
    results = [_result("apache", PackageInstalled, pkg, v_pkg, "k1"), _result("ssh", ServiceActive, svc, v_svc, "k2"),
               foreign]
    return session_with(tmp_path, results)


def _page(frames: aggregate.Frames, lang: str) -> str:
    return render_candidate(frames, "01", lang)


def test_english_report_shows_english_sentences_and_linux_messages(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    en = aggregate.load_frames(store, run_id, lang="en").results.set_index("check_id")
    assert en.loc["apache", "sentence"] == "The package nginx is installed."
    assert en.loc["apache", "message"] == "The package nginx is not installed."
    assert en.loc["ssh", "sentence"] == "The service ssh is active."
    assert en.loc["ssh", "message"] == "systemctl could not be run: délai dépassé"  # candidate-side data untouched
    assert en.loc["ailleurs", "sentence"] == "Le grille-pain est branché."  # not installed: as stored
    assert en.loc["ailleurs", "message"] == "Tout va bien."  # plain text: as stored
    page = _page(aggregate.load_frames(store, run_id, lang="en"), "en")
    assert "The package nginx is installed." in page and "The package nginx is not installed." in page
    assert "Le paquet nginx" not in page
    fr = aggregate.load_frames(store, run_id).results.set_index("check_id")
    assert fr.loc["apache", "sentence"] == "Le paquet nginx est installé."
    assert fr.loc["apache", "message"] == "Le paquet nginx n'est pas installé."


def _without_stamps(html: str) -> str:
    return re.sub(r"\d{1,2}[/ :h.-]\d{2}([/ :h.-]\d{2,4})*", "#", html)


def test_french_report_is_byte_identical_to_one_without_references(tmp_path: Path) -> None:
    """The French texts are the stored ones: the references change nothing in French."""
    store, run_id = _store(tmp_path)
    frames = aggregate.load_frames(store, run_id)
    write_csv(frames, tmp_path / "with.csv")
    with_refs = _page(frames, "fr")
    assert alter_store(store, "UPDATE results SET message_ref=NULL WHERE message_ref IS NOT NULL") == [2]
    plain = aggregate.load_frames(store, run_id)
    write_csv(plain, tmp_path / "without.csv")
    assert (tmp_path / "with.csv").read_bytes() == (tmp_path / "without.csv").read_bytes()
    assert _without_stamps(with_refs) == _without_stamps(_page(plain, "fr"))
    english = aggregate.load_frames(store, run_id, lang="en").results.set_index("check_id")
    assert english.loc["apache", "message"] == "Le paquet nginx n'est pas installé."  # no reference: as stored


def test_a_stored_text_that_no_longer_matches_its_reference_is_shown_as_stored(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    alter_store(store, "UPDATE results SET message='Texte modifié.', sentence='Autre phrase.' WHERE check_id='apache'")
    en = aggregate.load_frames(store, run_id, lang="en").results.set_index("check_id")
    assert en.loc["apache", "message"] == "Texte modifié." and en.loc["apache", "sentence"] == "Autre phrase."


def test_a_store_written_before_the_column_gains_it_and_reads_as_before(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    store.close()
    db = sqlite3.connect(tmp_path / "session" / Store.FILENAME)
    with db:
        db.execute("ALTER TABLE results DROP COLUMN message_ref")
    db.close()
    reopened = Store(tmp_path / "session")
    assert all(r["message_ref"] is None for r in reopened.results(run_id))
    en = aggregate.load_frames(reopened, run_id, lang="en").results.set_index("check_id")
    assert en.loc["apache", "sentence"] == "The package nginx is installed."  # sentences need no column
    assert en.loc["apache", "message"] == "Le paquet nginx n'est pas installé."


# --- through the command line, from a session and from an evidence bundle --------------------------


def _grader(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "GRADER_LANG", "LANGUAGE")}
    env["COLUMNS"] = "400"  # one table row per line
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300, check=False)


def test_grader_report_lang_en_from_a_session_and_from_its_bundle(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    store.close()
    session = tmp_path / "session"
    fr = _grader("report", "--session", str(session), "--run", run_id, "--out", str(tmp_path / "fr"), "--trainee")
    en = _grader("--lang", "en", "report", "--session", str(session), "--run", run_id, "--out", str(tmp_path / "en"),
                 "--trainee")
    assert fr.returncode == en.returncode == 0, fr.stderr + en.stderr
    page_fr = (tmp_path / "fr" / "candidat-01.html").read_text(encoding="utf-8")
    page_en = (tmp_path / "en" / "candidat-01.html").read_text(encoding="utf-8")
    assert "Le paquet nginx est installé." in page_fr and "Le paquet nginx n&#39;est pas installé." in page_fr
    assert "The package nginx is installed." not in page_fr
    assert "The package nginx is installed." in page_en and "The package nginx is not installed." in page_en
    bundle = tmp_path / "preuves.zip"
    exported = _grader("export", run_id, "--session", str(session), "--out", str(bundle))
    assert exported.returncode == 0, exported.stderr
    offline = _grader("--lang", "en", "report", "--from", str(bundle), "--out", str(tmp_path / "offline"), "--trainee")
    assert offline.returncode == 0, offline.stderr
    page = (tmp_path / "offline" / "candidat-01.html").read_text(encoding="utf-8")
    assert "The package nginx is not installed." in page  # the reference travels in the bundle
    rejudged = _grader("rejudge", "--from", str(bundle))
    assert rejudged.returncode == 0, rejudged.stdout + rejudged.stderr  # same statuses from the same evidence


def test_checks_list_and_live_messages_follow_the_command_line_language() -> None:
    fr = _grader("checks", "list", "--platform", "linux")
    en = _grader("--lang", "en", "checks", "list", "--platform", "linux")
    assert fr.returncode == en.returncode == 0
    assert "Le paquet {package} est installé." in fr.stdout and "The package {package} is installed." not in fr.stdout
    assert "The package {package} is installed." in en.stdout
    ref = Msg("sortie de stat illisible")
    assert i18n_checks.say(ref, ref.render(), "en") == "unreadable stat output"
    assert i18n_checks.say(ref, ref.render(), "fr") == "sortie de stat illisible"
    assert i18n_checks.say(None, "texte libre", "en") == "texte libre"
    assert i18n_checks.say(Msg("sans traduction {x}", x=1), "sans traduction 1", "en") == "sans traduction 1"


def test_the_engine_own_verdicts_are_references_too() -> None:
    """A lost or timed-out probe, a judge that crashes: said in English too, stored in French as before."""
    lost = evaluate(PackageInstalled(), PackageInstalled.Params(package="nginx"), {"pkg": None})
    assert lost.status is Status.ERREUR and lost.message == "la sonde « pkg » n'a rapporté aucun résultat"
    assert i18n_checks.say(lost.message_ref, lost.message, "en") == "the probe “pkg” reported no result"
    timed_out = ProbeResult(key="k", transport="ssh", command="", timed_out=True)
    late = evaluate(PackageInstalled(), PackageInstalled.Params(package="nginx"), {"pkg": timed_out})
    assert late.message == "la sonde « pkg » a dépassé son délai"
    assert i18n_checks.say(late.message_ref, late.message, "en") == "the probe “pkg” ran past its time limit"


def test_a_proof_through_an_unreached_host_is_said_in_english_too(tmp_path: Path) -> None:
    from grader import runner
    from tests.test_channels import CATALOGUE, DEPENDENT, Unreachable, load, make_channel, plan

    class Selective(make_channel("fake")[0]):  # type: ignore[misc]
        def collect(self, host, probes):  # type: ignore[no-untyped-def]
            if host.address.endswith(".1"):
                raise Unreachable("10.0.7.1 ne répond pas")
            return super().collect(host, probes)

    jobs = plan(load(tmp_path, DEPENDENT, {"fake": Selective}), [Candidate("7")], CATALOGUE)
    jobs.reverse()
    original = runner.default_channels
    runner.default_channels = lambda: {"fake": Selective()}
    try:
        reports = runner.run_jobs(jobs, known_hosts_path=None, workers=1)
    finally:
        runner.default_channels = original
    nat = next(r for rep in reports for r in rep.results if r.check_id == "nat")
    assert nat.message == "la preuve passe par l'hôte routeur, qui n'a pas été joint : 10.0.7.1 ne répond pas"
    assert i18n_checks.say(nat.message_ref, nat.message, "en") == (
        "the proof goes through the host routeur, which was not reached: 10.0.7.1 ne répond pas")


@pytest.mark.parametrize("task", ["reset_password", "create_delete_users", "manage_users", "group_membership",
                                  "full_control"])
def test_a_sentence_showing_a_code_as_words_says_them_in_english(task: str) -> None:
    """ad.ou_delegation shows its ``task`` code as words (sentence_values): in the report's language too."""
    cls = default_catalogue()["ad.ou_delegation"]
    params = {"ou": "Comptabilité", "group": "GG_Compta", "task": task}
    french = cls.sentence(params)
    assert french.startswith("Le contrôle de l'UO Comptabilité est délégué à GG_Compta (") and task not in french
    english = i18n_checks.sentence("ad.ou_delegation", params, french, "en")
    assert english.startswith("Control of the OU Comptabilité is delegated to GG_Compta (") and task not in english
    assert french.split("(")[1] not in english  # the task's words are English too
