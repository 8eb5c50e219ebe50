"""grader's one gettext catalogue: complete in French and English, compiled, and in step with the code.

The catalogue is ``grader/locale/<lang>/LC_MESSAGES/grader.po`` (+ the committed ``.mo``). What
the code uses is what ``pybabel extract -F babel.cfg`` finds (run here in-process, same config):
a message used but not catalogued, or catalogued but used nowhere, fails.
"""

from __future__ import annotations

import io
import os
import string
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from grader import i18n
from reports import labels

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "grader" / "locale"
LANGS = ("fr", "en")
FIXTURE_RUBRIC = ROOT / "tests" / "fixtures" / "rubrics" / "five-mistakes.yaml"


def _po(lang: str, locale_dir: Path = LOCALE):
    with (locale_dir / lang / "LC_MESSAGES" / "grader.po").open("rb") as f:
        return read_po(f, locale=lang, domain="grader")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def extracted_ids(root: Path, dirs: tuple[str, ...], tmp: Path) -> set[str]:
    """Msgids ``pybabel extract -F babel.cfg <dirs>`` finds under ``root``."""
    pot = tmp / "grader.pot"
    cwd = Path.cwd()
    try:
        os.chdir(root)  # babel.cfg patterns are relative to the directories given
        CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "--no-location",
                                    "-o", str(pot), *dirs])
    finally:
        os.chdir(cwd)
    with pot.open("rb") as f:
        return {m.id for m in read_po(f) if m.id}


def drift(used: set[str], catalogued: set[str]) -> tuple[list[str], list[str]]:
    """(used but not catalogued, catalogued but used nowhere)."""
    return sorted(used - catalogued), sorted(catalogued - used)


# --- the catalogue itself ---------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_every_message_has_a_translation_that_is_not_fuzzy(lang: str) -> None:
    catalog = _po(lang)
    bad = [m.id for m in catalog if m.id and (not m.string or m.fuzzy or m.string == m.id)]
    assert bad == []
    assert not catalog.fuzzy  # the header either


def test_french_and_english_have_the_same_messages_and_fields() -> None:
    fr, en = _po("fr"), _po("en")
    assert {m.id for m in fr if m.id} == {m.id for m in en if m.id}
    assert len({m.id for m in fr if m.id}) > 300
    mismatched = [m.id for m in fr if m.id and _fields(m.string) != _fields(en[m.id].string)]
    assert mismatched == []  # the same {fields} in both, so a caller fills either


@pytest.mark.parametrize("lang", LANGS)
def test_compiled_mo_is_the_compilation_of_the_po(lang: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _po(lang), use_fuzzy=False)
    committed = (LOCALE / lang / "LC_MESSAGES" / "grader.mo").read_bytes()
    assert committed == compiled.getvalue(), "run: pybabel compile -D grader -d grader/locale"


def test_stdlib_gettext_reads_the_committed_catalogue() -> None:
    for lang in LANGS:
        po = _po(lang)
        for message in po:
            if message.id:
                assert i18n.message(lang, message.id) == message.string
    with pytest.raises(KeyError):
        i18n.message("fr", "no.such.key")


# --- catalogue vs code --------------------------------------------------------------------------


def test_extraction_and_catalogue_agree(tmp_path: Path) -> None:
    used = extracted_ids(ROOT, ("grader", "reports"), tmp_path)
    missing, unused = drift(used, {m.id for m in _po("fr") if m.id})
    assert missing == [], "used in the code, absent from grader/locale/*/grader.po"
    assert unused == [], "in the catalogue, used nowhere (or used without a keyword: wrap the key in N_())"


def test_drift_is_detected_both_ways(tmp_path: Path) -> None:
    """The check above can fail: a use without an entry, and an entry without a use, are reported."""
    tree = tmp_path / "tree"
    (tree / "pkg" / "templates").mkdir(parents=True)
    (tree / "pkg" / "cli.py").write_text('from grader.i18n import N_, t\nt("msg.lab_up", n=1)\nt("msg.nowhere")\n'
                                         'KINDS = (N_("lab.running"),)\n', encoding="utf-8")
    (tree / "pkg" / "report.py").write_text('text(lang, "doc.back")\n', encoding="utf-8")
    (tree / "pkg" / "templates" / "page.html.j2").write_text('<p>{{ _("h.legend") }}</p>\n', encoding="utf-8")
    used = extracted_ids(tree, ("pkg",), tmp_path)
    assert used == {"msg.lab_up", "msg.nowhere", "lab.running", "doc.back", "h.legend"}
    missing, unused = drift(used, {"msg.lab_up", "lab.running", "doc.back", "h.legend", "msg.orphan"})
    assert missing == ["msg.nowhere"] and unused == ["msg.orphan"]


# --- one message, read alike everywhere ---------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_a_status_name_is_one_catalogue_entry_for_cli_and_reports(lang: str) -> None:
    from grader.cli.common import status_name
    from reports.html import _status

    expected = _po(lang)["status.non_conforme"].string
    assert expected == {"fr": "non conforme", "en": "not compliant"}[lang]
    before = i18n.get_lang()
    try:
        i18n.set_lang(lang)
        assert status_name("non_conforme") == expected  # command line
    finally:
        i18n.set_lang(before)
    assert labels.status_label(lang, "non_conforme") == expected  # reports
    assert _status("non_conforme", lang)["label"] == expected  # HTML views
    assert i18n.status_text("non_conforme", lang) == expected


def test_templates_read_the_catalogue_in_the_report_language() -> None:
    from reports.html import environment

    page = environment("en").from_string('{{ _("h.legend") }}|{{ _("probe.exit").format(code=3) }}')
    assert page.render() == "Legend|exit code 3"
    assert environment("fr").from_string('{{ _("h.legend") }}').render() == "Légende"


# --- the command line: French by default, English on demand -------------------------------------


def _grader(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "GRADER_LANG", "LANGUAGE")}
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], capture_output=True, text=True,
                          env=base | env, cwd=ROOT, timeout=120, check=False)


def test_cli_speaks_french_by_default_and_english_with_lang_en() -> None:
    fr = _grader("rubric", "validate", str(FIXTURE_RUBRIC))
    en = _grader("--lang", "en", "rubric", "validate", str(FIXTURE_RUBRIC))
    by_env = _grader("rubric", "validate", str(FIXTURE_RUBRIC), LANG="en_GB.UTF-8")
    assert fr.returncode == en.returncode == by_env.returncode == 2
    said_fr, said_en = fr.stdout + fr.stderr, en.stdout + en.stderr
    assert i18n.message("fr", "msg.problems", n=5) in said_fr and "problem(s):" not in said_fr
    assert i18n.message("en", "msg.problems", n=5) in said_en and "problème(s)" not in said_en
    assert i18n.message("en", "msg.problems", n=5) in by_env.stdout + by_env.stderr


def test_cli_help_comes_from_the_catalogue_in_both_languages() -> None:
    fr = _grader("checks", "--help")
    en = _grader("--lang", "en", "checks", "--help")
    assert fr.returncode == en.returncode == 0
    assert i18n.message("fr", "cmd.checks.list")[:30] in " ".join(fr.stdout.split())
    assert i18n.message("en", "cmd.checks.list")[:30] in " ".join(en.stdout.split())
