"""The jury's annotations in the session store: validated targets, justified overrides, results left alone."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from grader.errors import AnnotationError, GraderError, StoreError, UsageError
from grader.model import Status
from grader.roster import Candidate, load_roster
from grader.rubric import Rubric, load_rubric
from grader.store import SCHEMA, Store
from tests.test_store import DEMO, DEMO_ROSTER, RUN, UNREACHABLE, make_report

COLUMNS = ["id", "run_id", "candidate", "check_id", "host", "criterion", "kind", "status", "text", "author", "created",
           "replaced"]


@pytest.fixture(scope="module")
def demo() -> Rubric:
    return load_rubric(DEMO)


@pytest.fixture(scope="module")
def candidates(demo: Rubric) -> list[Candidate]:
    return load_roster(DEMO_ROSTER, demo)


@pytest.fixture
def graded(tmp_path: Path, demo: Rubric, candidates: list[Candidate]) -> Store:
    """Candidate 01 graded on srv-lin (check-0 conforme, check-1 non_conforme) and srv-web (same check ids);
    candidate 02 on srv-lin only (injoignable); candidate 03 never graded."""
    s = Store(tmp_path / "session")
    s.new_run(run_id=RUN, rubric=demo, roster_text="candidat;nom;reseau\n", candidates=candidates)
    s.save_host(RUN, make_report("01"))
    s.save_host(RUN, make_report("01", host="srv-web"))
    s.save_host(RUN, make_report("02", statuses=("injoignable", "injoignable"), outcome=UNREACHABLE, login=""))
    yield s
    s.close()


def raw_results(store: Store) -> list[tuple]:
    db = sqlite3.connect(store.path)
    try:
        return db.execute("SELECT * FROM results ORDER BY candidate, check_id, host").fetchall()
    finally:
        db.close()


def test_the_table_has_the_documented_columns(graded: Store) -> None:
    db = sqlite3.connect(graded.path)
    try:
        assert [row[1] for row in db.execute("PRAGMA table_info(annotations)")] == COLUMNS
    finally:
        db.close()
    assert graded.annotations(RUN) == []


def test_observations_on_a_candidate_a_criterion_and_a_check(graded: Store) -> None:
    on_candidate = graded.add_annotation(RUN, "01", kind="observation", text="  Très à l'aise à l'oral.  ",
                                         author="  Mme   Leroy ")
    on_criterion = graded.add_annotation(RUN, "01", kind="observation", criterion="CP9.2",
                                         text="Dossier technique complet.", author="M. Dupont")
    on_check = graded.add_annotation(RUN, "01", kind="observation", check_id="check-0", host="srv-web",
                                     text="Montré en direct.", author="M. Dupont")
    assert (on_candidate["text"], on_candidate["author"]) == ("Très à l'aise à l'oral.", "Mme Leroy")
    assert (on_candidate["check_id"], on_candidate["host"], on_candidate["criterion"]) == (None, None, None)
    assert on_criterion["criterion"] == "CP9.2" and on_criterion["check_id"] is None
    assert (on_check["check_id"], on_check["host"], on_check["status"]) == ("check-0", "srv-web", None)
    assert on_candidate["id"] < on_criterion["id"] < on_check["id"]
    rows = graded.annotations(RUN)
    assert [r["id"] for r in rows] == [on_candidate["id"], on_criterion["id"], on_check["id"]]
    assert rows[2] == {**on_check, "run_id": RUN}
    assert all(r["kind"] == "observation" and r["created"].endswith("+00:00") for r in rows)
    assert graded.annotations(RUN, "02") == []


def test_an_override_keeps_the_automated_result_untouched(graded: Store) -> None:
    before, rows_before = raw_results(graded), graded.results(RUN)
    row = graded.add_annotation(RUN, "01", kind="override", check_id="check-1", host="srv-lin", status="conforme",
                                text="Le paquet est installé sous un autre nom (montré au jury).", author="Mme Leroy")
    assert (row["kind"], row["status"], row["author"]) == ("override", "conforme", "Mme Leroy")
    assert raw_results(graded) == before and graded.results(RUN) == rows_before
    automated = {(r["candidate"], r["check_id"], r["host"]): r["status"] for r in graded.results(RUN)}
    assert automated[("01", "check-1", "srv-lin")] == "non_conforme"


def test_an_override_records_the_automated_status_it_replaced(graded: Store) -> None:
    graded_check = graded.add_annotation(RUN, "01", kind="override", check_id="check-1", host="srv-lin",
                                         status="conforme", text="Montré au jury.", author="J")
    unreached = graded.add_annotation(RUN, "02", kind="override", check_id="check-0", host="srv-lin",
                                      status="non_conforme", text="Vu sur place.", author="J")
    never = graded.add_annotation(RUN, "03", kind="override", check_id="check-0", host="srv-lin",
                                  status="conforme", text="Vu sur place.", author="J")
    note = graded.add_annotation(RUN, "01", kind="observation", check_id="check-1", host="srv-lin", text="x",
                                 author="J")
    assert [r["replaced"] for r in (graded_check, unreached, never, note)] == [
        "non_conforme", "injoignable", "non_evalue", None]
    assert [r["replaced"] for r in graded.annotations(RUN)] == ["non_conforme", "injoignable", "non_evalue", None]


def test_a_resume_that_changes_the_replaced_status_flags_the_override(graded: Store) -> None:
    from reports import aggregate

    graded.add_annotation(RUN, "02", kind="override", check_id="check-0", host="srv-lin", status="conforme",
                          text="Vu sur place.", author="J")
    graded.add_annotation(RUN, "01", kind="override", check_id="check-1", host="srv-lin", status="conforme",
                          text="Montré au jury.", author="J")
    graded.reopen_run(RUN)
    graded.save_host(RUN, make_report("02", statuses=("non_conforme", "conforme")))  # the resume reaches 02
    table = aggregate.overrides(aggregate.load_frames(graded, RUN)).set_index("candidate")
    assert (table.loc["02", "replaced"], table.loc["02", "automated"], table.loc["02", "review"]) == (
        "injoignable", "non_conforme", True)
    assert (table.loc["01", "replaced"], table.loc["01", "automated"], table.loc["01", "review"]) == (
        "non_conforme", "non_conforme", False)
    counts = aggregate.override_counts(aggregate.load_frames(graded, RUN))
    assert counts["review"].to_dict() == {"01": 0, "02": 1, "03": 0}


def test_an_old_store_gains_the_replaced_column_and_its_overrides_are_not_flagged(tmp_path: Path, demo: Rubric,
                                                                                    candidates: list[Candidate]) -> None:
    from reports import aggregate

    old_dir = tmp_path / "ancienne"
    old = Store(old_dir)
    old.new_run(run_id=RUN, rubric=demo, roster_text="", candidates=candidates)
    old.save_host(RUN, make_report("01"))
    old.close()
    db = sqlite3.connect(old_dir / Store.FILENAME)
    db.execute("ALTER TABLE annotations DROP COLUMN replaced")  # the table as an older grader wrote it
    db.execute("INSERT INTO annotations (run_id, candidate, check_id, host, kind, status, text, author, created)"
               " VALUES (?, '01', 'check-1', 'srv-lin', 'override', 'conforme', 'ancienne', 'J', 'now')", (RUN,))
    db.commit()
    db.close()
    reopened = Store(old_dir)
    try:
        db = sqlite3.connect(old_dir / Store.FILENAME)
        assert [row[1] for row in db.execute("PRAGMA table_info(annotations)")] == COLUMNS  # migrated
        db.close()
        [row] = reopened.annotations(RUN)
        assert row["replaced"] is None and row["status"] == "conforme"
        table = aggregate.overrides(aggregate.load_frames(reopened, RUN))
        assert table["replaced"].tolist() == [None] and table["review"].tolist() == [False]
    finally:
        reopened.close()


@pytest.mark.parametrize("spelled, stored", [
    ("conforme", "conforme"), ("non conforme", "non_conforme"), ("Non-Conforme", "non_conforme"),
    ("non évalué", "non_evalue"), (" INJOIGNABLE ", "injoignable"), (Status.ERREUR, "erreur"),
])
def test_override_status_spellings(graded: Store, spelled, stored: str) -> None:
    row = graded.add_annotation(RUN, "01", kind="override", check_id="check-0", host="srv-lin", status=spelled,
                                text="justifié", author="J")
    assert row["status"] == stored


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "override", "check_id": "check-1", "host": "srv-lin", "status": "conforme", "text": "   "},
     "doit être justifiée"),
    ({"kind": "override", "check_id": "check-1", "host": "srv-lin", "status": "parfait", "text": "x"},
     "statut « parfait » inconnu : conforme, non_conforme, erreur, injoignable, non_evalue"),
    ({"kind": "override", "check_id": "check-1", "host": "srv-lin", "status": None, "text": "x"},
     "nomme le statut retenu"),
    ({"kind": "override", "criterion": "CP9.1", "status": "conforme", "text": "x"}, "précisez-la"),
    ({"kind": "override", "status": "conforme", "text": "x"}, "précisez-la"),
    ({"kind": "observation", "text": ""}, "observation vide"),
    ({"kind": "observation", "text": "x", "author": "  "}, "auteur manquant"),
    ({"kind": "observation", "text": "x", "status": "conforme"}, "ne change aucun statut"),
    ({"kind": "avis", "text": "x"}, "type d'annotation inconnu"),
    ({"kind": "observation", "text": "x", "check_id": "check-9"}, "vérification « check-9 » absente"),
    ({"kind": "observation", "text": "x", "check_id": "check-0"}, "plusieurs hôtes : précisez lequel (srv-lin, srv-web)"),
    ({"kind": "observation", "text": "x", "check_id": "check-0", "host": "srv-win"},
     "ne porte pas sur l'hôte « srv-win » (hôtes : srv-lin, srv-web)"),
    ({"kind": "observation", "text": "x", "host": "srv-lin"}, "précisez la vérification"),
    ({"kind": "observation", "text": "x", "check_id": "check-0", "host": "srv-lin", "criterion": "CP9.1"},
     "pas les deux"),
    ({"kind": "observation", "text": "x", "criterion": "CP99.9"}, "critère « CP99.9 » inconnu"),
    ({"kind": "observation", "text": "x" * 20_001}, "texte trop long"),
])
def test_refused_annotations_say_what_to_fix(graded: Store, kwargs: dict, message: str) -> None:
    args = {"author": "Mme Leroy", **kwargs}
    with pytest.raises(AnnotationError) as caught:
        graded.add_annotation(RUN, "01", **args)
    assert message in str(caught.value)
    assert graded.annotations(RUN) == []


def test_unknown_run_and_candidate(graded: Store) -> None:
    with pytest.raises(StoreError, match="correction « autre » introuvable"):
        graded.add_annotation("autre", "01", kind="observation", text="x", author="J")
    with pytest.raises(AnnotationError, match=r"candidat « 09 » absent de la correction .* \(candidats : 01, 02, 03\)"):
        graded.add_annotation(RUN, "09", kind="observation", text="x", author="J")
    assert issubclass(AnnotationError, UsageError) and issubclass(AnnotationError, GraderError)


def test_the_host_is_inferred_when_the_check_ran_on_one_host(tmp_path: Path, demo: Rubric,
                                                               candidates: list[Candidate]) -> None:
    single = Store(tmp_path / "single")
    single.new_run(run_id=RUN, rubric=demo, roster_text="", candidates=candidates)
    single.save_host(RUN, make_report("01"))
    row = single.add_annotation(RUN, "01", kind="override", check_id="check-1", status="conforme", text="vu",
                                author="J")
    assert row["host"] == "srv-lin"
    single.close()


def test_a_check_never_graded_for_this_candidate_can_be_annotated(graded: Store) -> None:
    """Candidate 03 was never graded (interrupted run): its checks are non_evalue, and the jury may decide."""
    row = graded.add_annotation(RUN, "03", kind="override", check_id="check-0", host="srv-lin", status="non_conforme",
                                text="Constaté en entretien : service absent.", author="J")
    assert row["candidate"] == "03" and not [r for r in graded.results(RUN) if r["candidate"] == "03"]


def test_resume_keeps_annotations_and_conclusive_hosts_ignore_them(graded: Store) -> None:
    assert graded.conclusive_hosts(RUN) == {("01", "srv-lin"), ("01", "srv-web")}
    graded.add_annotation(RUN, "02", kind="override", check_id="check-0", host="srv-lin", status="conforme",
                          text="Vu sur place.", author="J")
    graded.add_annotation(RUN, "01", kind="observation", check_id="check-1", host="srv-lin", text="à revoir",
                          author="J")
    # an override of an injoignable check does not make its host conclusive: a resume regrades it
    assert graded.conclusive_hosts(RUN) == {("01", "srv-lin"), ("01", "srv-web")}
    graded.reopen_run(RUN)
    graded.save_host(RUN, make_report("02", statuses=("conforme", "conforme")))  # the resume reaches it
    graded.save_host(RUN, make_report("01", statuses=("conforme", "conforme"), tag="-bis"))
    assert len(graded.annotations(RUN)) == 2
    assert graded.conclusive_hosts(RUN) == {("01", "srv-lin"), ("01", "srv-web"), ("02", "srv-lin")}


def test_annotations_survive_reopening_and_old_stores_gain_the_table(graded: Store, tmp_path: Path) -> None:
    graded.add_annotation(RUN, "01", kind="observation", text="x", author="J")
    again = Store(graded.session_dir)
    assert [r["text"] for r in again.annotations(RUN)] == ["x"]
    again.close()

    old_dir = tmp_path / "ancienne"
    old_dir.mkdir()
    db = sqlite3.connect(old_dir / Store.FILENAME)
    db.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS annotations")[0])  # a store written before annotations
    db.close()
    old = Store(old_dir)
    assert old.annotations(RUN) == []
    old.close()


def test_the_table_itself_refuses_an_unknown_kind(graded: Store) -> None:
    db = sqlite3.connect(graded.path)
    try:
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO annotations (run_id, candidate, kind, text, author, created) "
                       "VALUES (?, '01', 'verdict', 'x', 'J', 'now')", (RUN,))
    finally:
        db.close()


def test_concurrent_annotations_from_request_threads(graded: Store) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(10):
                graded.add_annotation(RUN, "01", kind="observation", criterion="CP9.1", text=f"{n}-{i}",
                                      author=f"J{n}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    rows = graded.annotations(RUN)
    assert len(rows) == 80 and len({r["id"] for r in rows}) == 80
