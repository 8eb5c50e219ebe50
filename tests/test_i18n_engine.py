"""The engine's messages (rubric, roster, store, session, bundle, referential) come from the catalogue.

They are built far from the command line but printed by it, so they follow its language: French
by default, English with ``--lang en``. Each module is checked once in each language, through the
function that raises the message (the process language switched, then restored) or the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader import i18n
from grader.errors import AnnotationError, RubricError, StoreError, UsageError

ROOT = Path(__file__).resolve().parent.parent
FIVE_MISTAKES = ROOT / "tests" / "fixtures" / "rubrics" / "five-mistakes.yaml"

SMALL_RUBRIC = """\
rubric: petit
title: Petit barème
variables:
  reseau: {description: "trois octets"}
credentials:
  correcteur: {username: grader, agent: true}
hosts:
  - {name: srv, role: serveur, platform: linux, address: "{{ reseau }}.10", credential: correcteur}
checks:
  - {id: apache, check: linux.package_installed, host: srv, params: {package: apache2}, criterion: CP9.1}
"""


@pytest.fixture
def speak() -> Iterator[Callable[[str], None]]:
    """``speak(lang)`` switches the process language; the original one is restored afterwards."""
    before = i18n.get_lang()
    yield i18n.set_lang
    i18n.set_lang(before)


def _problems(exc: pytest.ExceptionInfo[RubricError]) -> str:
    return "\n".join(exc.value.problems)


# --- rubric ---------------------------------------------------------------------------------------


def _grader(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "GRADER_LANG", "LANGUAGE")}
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120, check=False)


def test_rubric_validation_is_located_and_french_by_default_english_with_lang_en() -> None:
    fr = _grader("rubric", "validate", str(FIVE_MISTAKES))
    en = _grader("--lang", "en", "rubric", "validate", str(FIVE_MISTAKES))
    assert fr.returncode == en.returncode == 2
    said_fr, said_en = fr.stdout + fr.stderr, en.stdout + en.stderr
    assert f"{FIVE_MISTAKES}:39:5: vérification inconnue « linux.package_instaled » — vouliez-vous dire" in said_fr
    assert f"{FIVE_MISTAKES}:39:5: unknown check “linux.package_instaled” — did you mean" in said_en
    # pydantic's error kinds are said in the reader's language too, with their location.
    assert ":108:33: checks.8.params.port : un nombre entier est attendu, pas 'quatre-vingts'" in said_fr
    assert ":108:33: checks.8.params.port: a whole number is expected, not 'quatre-vingts'" in said_en
    assert "unknown RC criterion “CP99.1”" in said_en and "critère du RC inconnu « CP99.1 »" in said_fr
    assert "«" not in said_en and "vérification" not in said_en


def test_rubric_model_validators_speak_the_process_language(tmp_path: Path, speak: Callable[[str], None]) -> None:
    from grader.rubric import load_rubric

    path = tmp_path / "r.yaml"
    path.write_text(SMALL_RUBRIC.replace("agent: true", "agent: true, password_env: X"), encoding="utf-8")
    speak("en")
    with pytest.raises(RubricError) as en:
        load_rubric(path)
    speak("fr")
    with pytest.raises(RubricError) as fr:
        load_rubric(path)
    assert "give exactly one secret source among key_file" in _problems(en)
    assert "indiquez exactement une source de secret parmi key_file" in _problems(fr)


# --- roster ---------------------------------------------------------------------------------------


def test_roster_problems_follow_the_language(tmp_path: Path, speak: Callable[[str], None]) -> None:
    from grader.roster import load_roster

    roster = tmp_path / "candidats.csv"
    roster.write_text("numero;nom\n01;Alice\n", encoding="utf-8")
    speak("en")
    with pytest.raises(RubricError) as en:
        load_roster(roster)
    speak("fr")
    with pytest.raises(RubricError) as fr:
        load_roster(roster)
    assert f"{roster}:1:1: no “candidat” column — the first line must name the columns" in _problems(en)
    assert f"{roster}:1:1: colonne « candidat » absente — la première ligne doit nommer les colonnes" in _problems(fr)


# --- store ----------------------------------------------------------------------------------------


def test_store_and_annotation_errors_follow_the_language(tmp_path: Path, speak: Callable[[str], None]) -> None:
    from grader.store import Store

    store = Store(tmp_path)
    try:
        speak("en")
        with pytest.raises(StoreError, match="grading run “nope” not found in .* \\(known: none\\)"):
            store.run("nope")
        with pytest.raises(AnnotationError, match="^unknown annotation kind “avis”: observation or override$"):
            store.add_annotation("nope", "01", kind="avis", text="x", author="jury")
        speak("fr")
        with pytest.raises(StoreError, match="correction « nope » introuvable dans .* \\(connues : aucune\\)"):
            store.run("nope")
        with pytest.raises(AnnotationError, match="^type d'annotation inconnu « avis » : observation ou override$"):
            store.add_annotation("nope", "01", kind="avis", text="x", author="jury")
    finally:
        store.close()


# --- session --------------------------------------------------------------------------------------


def test_resume_with_other_inputs_is_refused_in_the_language(tmp_path: Path, speak: Callable[[str], None]) -> None:
    from grader.session import prepare

    rubric, roster = tmp_path / "r.yaml", tmp_path / "c.csv"
    rubric.write_text(SMALL_RUBRIC, encoding="utf-8")
    roster.write_text("candidat;reseau\n01;10.77.1\n", encoding="utf-8")
    first = prepare(rubric, roster, tmp_path / "session")
    first.store.close()
    roster.write_text("candidat;reseau\n01;10.77.2\n", encoding="utf-8")
    said = {}
    for lang in ("en", "fr"):
        speak(lang)
        with pytest.raises(UsageError) as exc:
            prepare(rubric, roster, tmp_path / "session", resume=first.run_id)
        said[lang] = str(exc.value)
    assert said["en"].startswith(f"grading run {first.run_id} was made with another rubric or another roster")
    assert said["fr"].startswith(f"la correction {first.run_id} a été faite avec un autre barème")


# --- bundle ---------------------------------------------------------------------------------------


def test_bundle_verification_follows_the_language(tmp_path: Path, speak: Callable[[str], None]) -> None:
    from grader.bundle import verify

    missing, broken = tmp_path / "absent.zip", tmp_path / "pas-un-zip.zip"
    broken.write_bytes(b"not a zip")
    speak("en")
    assert verify(missing) == [f"{missing}: evidence bundle not found"]
    assert verify(broken)[0].startswith(f"{broken}: unreadable ZIP archive (")
    speak("fr")
    assert verify(missing) == [f"{missing} : paquet de preuves introuvable"]
    assert verify(broken)[0].startswith(f"{broken} : archive ZIP illisible (")


# --- referential ----------------------------------------------------------------------------------


def test_unknown_rc_codes_follow_the_language(speak: Callable[[str], None]) -> None:
    from grader.referential import load_referential

    ref = load_referential()
    speak("en")
    with pytest.raises(KeyError) as en:
        ref.criterion("CP99.1")
    speak("fr")
    with pytest.raises(KeyError) as fr:
        ref.competence("CP99")
    assert en.value.args[0].startswith("unknown RC criterion “CP99.1” — did you mean CP9.1")
    assert fr.value.args[0].startswith("compétence du RC inconnu(e) « CP99 » — vouliez-vous dire CP9")
