"""``grader jury note|override|list`` and ``grader serve --help``, on an application built as grader.cli builds it."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from grader.cli import jury
from grader.cli.common import FrenchGroup
from grader.errors import AnnotationError, UsageError
from grader.store import Store
from tests.reports.test_reports import build_store


def make_app() -> typer.Typer:
    app = typer.Typer(rich_markup_mode=None, cls=FrenchGroup, no_args_is_help=True)

    @app.callback()
    def root() -> None:
        """grader"""

    jury.register(app)
    return app


@pytest.fixture()
def session(tmp_path: Path) -> tuple[Path, str]:
    store, run_id = build_store(tmp_path)
    store.close()
    return tmp_path / "session", run_id


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(make_app(), list(args), env=env)


@pytest.mark.parametrize("words", [["jury"], ["jury", "note"], ["jury", "override"], ["jury", "list"], ["serve"]],
                         ids=" ".join)
def test_french_help(words: list[str]) -> None:
    done = invoke(*words, "--help")
    assert done.exit_code == 0, done.output
    assert "Afficher cette aide et quitter." in done.output and "Show this message" not in done.output
    assert "Utilisation :" in done.output


def test_group_help_lists_the_commands() -> None:
    done = invoke("jury", "--help")
    assert "note" in done.output and "override" in done.output and "list" in done.output
    assert "observations et décisions motivées" in done.output
    serve = invoke("serve", "--help")
    assert "--host" in serve.output and "--port" in serve.output and "jeton" in serve.output
    for option in ("--jury", "--jury-file", "--tls-cert", "--tls-key"):
        assert option in serve.output


def test_note_override_and_list(session: tuple[Path, str]) -> None:
    directory, run_id = session
    done = invoke("jury", "note", "--session", str(directory), "--candidate", "02", "--criterion", "CP9.2",
                  "--text", "Dossier clair.", "--author", "Mme Leroy")
    assert done.exit_code == 0, done.output
    assert "Observation n° 1 enregistrée — candidat 02, critère CP9.2 — par Mme Leroy." in done.output
    assert f"grader report --session {directory} --run {run_id}" in done.output
    done = invoke("jury", "override", "--session", str(directory), "--run", run_id, "--candidate", "02",
                  "--check", "apache-actif", "--status", "non évalué", "--text", "Arrêté par une coupure de courant.",
                  "--author", "M. Dupont")
    assert done.exit_code == 0, done.output
    assert ("Décision n° 2 enregistrée — candidat 02, apache-actif sur srv-web : non évalué (statut automatique : "
            "non conforme) — par M. Dupont.") in done.output
    done = invoke("jury", "note", "--session", str(directory), "--candidate", "01", "--check", "ssh-actif",
                  "--host", "srv-lin", "--text", "Vu.", env={"GRADER_JURY": "Mme Leroy"})
    assert done.exit_code == 0, done.output
    assert "ssh-actif sur srv-lin — par Mme Leroy" in done.output

    store = Store(directory)
    rows = store.annotations(run_id)
    automated = {(r["candidate"], r["check_id"]): r["status"] for r in store.results(run_id)}
    store.close()
    assert [(r["kind"], r["candidate"], r["status"]) for r in rows] == [
        ("observation", "02", None), ("override", "02", "non_evalue"), ("observation", "01", None)]
    assert automated[("02", "apache-actif")] == "non_conforme"  # never changed

    listed = invoke("jury", "list", "--session", str(directory))
    assert listed.exit_code == 0, listed.output
    flat = " ".join(listed.output.split())
    assert f"Annotations du jury — correction {run_id}" in flat
    assert ("n° 2 · candidat 02 · apache-actif sur srv-web · décision : non conforme → non évalué · M. Dupont, le "
            in flat) and "\n    Arrêté par une coupure de courant.\n" in listed.output
    only = invoke("jury", "list", "--session", str(directory), "--candidate", "01")
    assert "ssh-actif" in only.output and "apache-actif" not in only.output


def test_refusals_are_clear_errors(session: tuple[Path, str]) -> None:
    directory, _ = session
    done = invoke("jury", "override", "--session", str(directory), "--candidate", "01", "--check", "syslog-distant",
                  "--status", "conforme", "--text", " ", "--author", "J")
    assert done.exit_code != 0 and isinstance(done.exception, AnnotationError)
    assert "doit être justifiée" in str(done.exception)
    done = invoke("jury", "override", "--session", str(directory), "--candidate", "01", "--check", "syslog-distant",
                  "--status", "parfait", "--text", "x", "--author", "J")
    assert "statut « parfait » inconnu" in str(done.exception)
    missing = invoke("jury", "note", "--session", str(directory), "--candidate", "01", "--text", "x")
    assert missing.exit_code == 2 and "--author" in missing.output
    nowhere = invoke("jury", "list", "--session", str(directory.parent / "vide"))
    assert isinstance(nowhere.exception, UsageError) and "Aucune correction" in str(nowhere.exception)
    unknown = invoke("jury", "list", "--session", str(directory), "--run", "autre")
    assert "correction « autre » introuvable" in str(unknown.exception)


def test_list_without_annotations(session: tuple[Path, str]) -> None:
    directory, run_id = session
    done = invoke("jury", "list", "--session", str(directory))
    assert done.exit_code == 0 and f"Aucune annotation du jury dans la correction {run_id}." in done.output


def test_serve_on_a_busy_port_is_a_clear_error(session: tuple[Path, str]) -> None:
    import socket

    directory, _ = session
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = invoke("serve", "--session", str(directory), "--port", str(port))
    assert isinstance(done.exception, UsageError)
    assert f"le port {port} de 127.0.0.1 est déjà utilisé" in str(done.exception) and "--port" in str(done.exception)


def test_list_flags_a_decision_whose_replaced_status_changed(session: tuple[Path, str]) -> None:
    directory, run_id = session
    invoke("jury", "override", "--session", str(directory), "--candidate", "02", "--check", "apache-actif",
           "--status", "conforme", "--text", "Premier avis.", "--author", "M. Dupont")
    done = invoke("jury", "override", "--session", str(directory), "--candidate", "02", "--check", "apache-actif",
                  "--status", "conforme", "--text", "Montré au jury.", "--author", "M. Dupont")
    assert "(statut automatique : non conforme)" in done.output
    store = Store(directory)
    assert [r["replaced"] for r in store.annotations(run_id)] == ["non_conforme", "non_conforme"]
    listed = " ".join(invoke("jury", "list", "--session", str(directory)).output.split())
    assert "REVOIR" not in listed
    with store._lock:  # a resume regraded the check since: save_host replaced its result
        store._db.execute("UPDATE results SET status='conforme' WHERE run_id=? AND candidate='02'"
                          " AND check_id='apache-actif'", (run_id,))
    store.close()
    listed = " ".join(invoke("jury", "list", "--session", str(directory)).output.split())
    assert listed.count("À REVOIR") == 1  # the decision in force only
    assert ("n° 2 · candidat 02 · apache-actif sur srv-web · décision : conforme → conforme" in listed
            and "À REVOIR : la décision remplaçait le statut automatique « non conforme », qui est maintenant "
                "« conforme »" in listed)
    assert listed.index("À REVOIR") > listed.index("n° 2 ")


class FakeServer:
    def serve_forever(self) -> None:
        raise KeyboardInterrupt


def fake_make_server(calls: list[dict]):
    from grader.web import Served, WebConfig, jury_names

    def make(root, **kwargs):
        calls.append({"root": root, **kwargs})
        config = WebConfig(root=root, token="t0k", jury=jury_names(kwargs.get("jury", ())))
        served = Served(server=FakeServer(), url="http://127.0.0.1:8765/?token=t0k", token="t0k",  # type: ignore[arg-type]
                        config=config)
        served.close = lambda: None  # type: ignore[method-assign]
        return served

    return make


def test_serve_names_the_jury_from_options_and_a_file(session: tuple[Path, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from grader import web

    directory, _ = session
    calls: list[dict] = []
    monkeypatch.setattr(web, "make_server", fake_make_server(calls))
    names = tmp_path / "jury.txt"
    names.write_text("\ufeff# jury de la salle B12\nMme Martin\n\n  M. Durand  \nMme Lefèvre\n", encoding="utf-8")
    done = invoke("serve", "--session", str(directory), "--jury", "Mme Martin", "--jury", "Mme Roux",
                  "--jury-file", str(names))
    assert done.exit_code == 0, done.output
    assert calls[0]["jury"] == ["Mme Martin", "Mme Roux", "Mme Martin", "  M. Durand  ", "Mme Lefèvre"]
    flat = " ".join(done.output.split())
    assert "Jury autorisé à annoter : Mme Martin, Mme Roux, M. Durand, Mme Lefèvre" in flat
    assert "http://127.0.0.1:8765/?token=t0k" in flat and "jeton compris" in flat
    calls.clear()
    read_only = invoke("serve", "--session", str(directory))
    assert calls[0]["jury"] == [] and "Vue en lecture seule" in read_only.output and "--jury" in read_only.output
    missing = invoke("serve", "--session", str(directory), "--jury-file", str(tmp_path / "absent.txt"))
    assert isinstance(missing.exception, UsageError) and "liste du jury illisible" in str(missing.exception)
    (tmp_path / "latin1.txt").write_bytes("Mme Lefèvre\n".encode("latin-1"))
    latin = invoke("serve", "--session", str(directory), "--jury-file", str(tmp_path / "latin1.txt"))
    assert isinstance(latin.exception, UsageError) and "UTF-8" in str(latin.exception)


def test_serve_refuses_a_non_loopback_address_without_tls(session: tuple[Path, str]) -> None:
    directory, _ = session
    done = invoke("serve", "--session", str(directory), "--host", "0.0.0.0", "--port", "0")
    assert isinstance(done.exception, UsageError)
    assert "l'adresse 0.0.0.0 n'est pas la boucle locale" in str(done.exception)
    assert "--tls-cert" in str(done.exception) and "--tls-key" in str(done.exception)
    half = invoke("serve", "--session", str(directory), "--port", "0", "--tls-key", str(directory))
    assert isinstance(half.exception, UsageError) and "vont ensemble" in str(half.exception)
