"""The machine-readable RC must be the official one, copied, not rewritten.

The seed-backed tests re-read the RC tables of the source document and prove that every
criterion is a verbatim substring of it, and that the criteria of each competence, joined with
single spaces, give back the table cell exactly: the split into criteria lost and added nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from grader.referential import DEFAULT_PATH, Referential, load_referential

SEED_NAME = "001_0f4ee1cdc0f12ade.txt"
MODALITY_COLUMNS = ["mise_en_situation", "entretien_technique", "questionnaire_professionnel",
                    "questionnement_productions"]


def _seed_path() -> Path | None:
    candidates = [Path(__file__).resolve().parents[1].parent / "shared" / "seeds" / SEED_NAME]
    if os.environ.get("GRADER_SEEDS_DIR"):
        candidates.append(Path(os.environ["GRADER_SEEDS_DIR"]) / SEED_NAME)
    return next((p for p in candidates if p.is_file()), None)


@pytest.fixture(scope="module")
def seed_text() -> str:
    path = _seed_path()
    if path is None:
        pytest.skip(f"seed document {SEED_NAME} not found in ../shared/seeds/ nor in $GRADER_SEEDS_DIR")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def seed_rows(seed_text: str) -> dict[str, tuple[str, list[str]]]:
    """RC table rows of the seed: competence title -> (criteria cell, checked modality keys)."""
    rows: dict[str, tuple[str, list[str]]] = {}
    for line in seed_text.splitlines():
        if "<input" not in line:
            continue
        cells = line.split("\t")
        assert len(cells) == 6, f"unexpected RC table row: {line[:80]!r}"
        assert cells[0] not in rows, f"competence row twice in the seed: {cells[0]!r}"
        checked = [key for key, cell in zip(MODALITY_COLUMNS, cells[2:]) if "checked" in cell]
        rows[cells[0]] = (cells[1], checked)
    return rows


@pytest.fixture(scope="module")
def rc() -> Referential:
    return load_referential()


def test_blocks(rc: Referential) -> None:
    assert [b.code for b in rc.blocks] == ["CCP1", "CCP2", "CCP3", "CCS"]
    assert [b.title for b in rc.blocks] == [
        "Assister les utilisateurs en centre de services",
        "Maintenir, exploiter et sécuriser une infrastructure centralisée",
        "Maintenir et exploiter une infrastructure distribuée et contribuer à sa sécurisation",
        "Administrer les serveurs Linux",
    ]
    assert rc.rncp == "RNCP37454"
    assert rc.code == "TP-01351"


def test_competence_codes_unique_and_ordered(rc: Referential) -> None:
    codes = [c.code for c in rc.competences()]
    assert codes == [f"CP{n}" for n in range(1, 16)] + [f"CCS{n}" for n in range(1, 6)]
    assert len(set(codes)) == len(codes) == 20
    assert [len(b.competences) for b in rc.blocks] == [4, 5, 6, 5]
    assert all(c.code.startswith("CCS") for c in rc.blocks[-1].competences)


def test_criterion_ids_unique_and_positional(rc: Referential) -> None:
    ids = [c.id for c in rc.all_criteria()]
    assert len(ids) == len(set(ids)) == len(rc.criterion_ids()) == 67
    for comp in rc.competences():
        assert [c.id for c in comp.criteria] == [f"{comp.code}.{n}" for n in range(1, len(comp.criteria) + 1)]


def test_lookups(rc: Referential) -> None:
    assert rc.criterion("CP8.2").text == "Les règles de gestion (GPO) mises en place sont conformes à la demande"
    assert rc.competence_of("CP8.2").code == "CP8"
    assert rc.competence("CP8").title == "Maintenir et exploiter un domaine Active Directory et les serveurs Windows"
    assert rc.competence_of("CCS5.1").title == "Installer, paramétrer un service sous Linux"
    assert rc.block_of("CP9.1").code == "CCP2"
    for bad in ("CP8.9", "CP16.1", "cp8.2", "CP8"):
        with pytest.raises(KeyError):
            rc.criterion(bad)
    with pytest.raises(KeyError):
        rc.competence("CP16")
    with pytest.raises(KeyError):
        rc.competence_of("CCS3.1")


def test_known_modalities(rc: Referential) -> None:
    assert [(m.key, m.label) for m in rc.modalities] == [
        ("mise_en_situation", "Mise en situation professionnelle"),
        ("entretien_technique", "Entretien technique"),
        ("questionnaire_professionnel", "Questionnaire professionnel"),
        ("questionnement_productions", "Questionnement à partir de productions"),
    ]
    assert rc.competence("CP8").modalities == ("mise_en_situation", "entretien_technique")
    assert "mise_en_situation" not in rc.competence("CP4").modalities
    assert rc.competence("CP4").modalities == ("entretien_technique", "questionnaire_professionnel")
    assert rc.competence("CP2").modalities == ("mise_en_situation",)
    assert rc.competence("CP15").modalities == ("entretien_technique",)
    assert rc.competence("CCS2").modalities == ("questionnement_productions",)
    # Only the CCS uses "questionnement à partir de productions".
    users = {c.code for c in rc.competences() if "questionnement_productions" in c.modalities}
    assert users == {"CCS2", "CCS4"}


def test_empty_competence_is_explained(rc: Referential) -> None:
    empty = [c for c in rc.competences() if not c.criteria]
    assert [c.code for c in empty] == ["CCS3"]
    assert empty[0].title == "Superviser les serveurs Linux"
    assert empty[0].note and "no criterion" in empty[0].note
    assert all(c.note is None for c in rc.competences() if c.criteria)


def test_default_is_cached_and_explicit_path_loads(rc: Referential) -> None:
    assert load_referential() is rc
    again = load_referential(DEFAULT_PATH)
    assert again is not rc and again == rc


def test_criterion_texts_are_verbatim_in_seed(rc: Referential, seed_text: str) -> None:
    missing = [c.id for c in rc.all_criteria() if c.text not in seed_text]
    assert not missing, f"criteria not found verbatim in the seed: {missing}"
    for text in [b.title for b in rc.blocks] + [m.label for m in rc.modalities]:
        assert text in seed_text


def test_split_reproduces_seed_cells(rc: Referential, seed_rows: dict[str, tuple[str, list[str]]]) -> None:
    assert len(seed_rows) == 20
    assert [c.title for c in rc.competences()] == list(seed_rows)  # same competences, same order
    for comp in rc.competences():
        cell, _ = seed_rows[comp.title]
        assert " ".join(c.text for c in comp.criteria) == cell, comp.code
        for crit in comp.criteria:
            # Each criterion is one sentence: no leading/trailing/double space.
            assert crit.text == crit.text.strip() and "  " not in crit.text, crit.id


def test_split_points_are_sentence_starts(rc: Referential) -> None:
    # A criterion starts a French sentence (article/determiner), never a proper noun.
    start = re.compile(r"^(?:Les|La|Le|Une|Tous) |^L'")
    for crit in rc.all_criteria():
        assert start.match(crit.text), crit.id
        # ...and no sentence start was left glued inside a criterion.
        assert not re.search(r" (?:Les|La|Le|Une|Tous) | L'", crit.text), crit.id


def test_modalities_match_seed_checkboxes(rc: Referential, seed_rows: dict[str, tuple[str, list[str]]]) -> None:
    for comp in rc.competences():
        _, checked = seed_rows[comp.title]
        assert list(comp.modalities) == checked, comp.code


def test_broken_file_is_rejected(tmp_path: Path) -> None:
    text = DEFAULT_PATH.read_text(encoding="utf-8").replace("id: CP8.2", "id: CP8.3", 1)
    broken = tmp_path / "rc.yaml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError, match="CP8"):
        load_referential(broken)


# --- issue #14 §5: the referential as the RC writes it ------------------------------------------

SESSION_MODALITY_LABELS = {  # the first cell of a session-table row, as the seed spells it
    "mise_en_situation": ("Mise en situation professionnelle",),
    "entretien_technique": ("Entretien technique",),
    "questionnaire_professionnel": ("Questionnaire professionnel",),
    "questionnement_productions": ("Questionnement à partir de production(s)",
                                   "Questionnaire à partir de production(s)"),  # CCP 2 writes it so
}
SESSION_HEADINGS = {"ccp1": "CCP 1", "ccp2": "CCP 2", "ccp3": "CCP 3", "ccs": "CCS"}


def _squeeze(text: str) -> str:
    # The seed writes « ActiveDirectory » in the session tables, « Active Directory » in §3.2.
    return text.replace(" ", "")


def _seed_session(seed_text: str, rc: Referential, key: str) -> dict[str, list[str]]:
    """A certificate's session table read from the seed: modality key -> competence codes, in order."""
    lines = seed_text.splitlines()
    start = lines.index(SESSION_HEADINGS[key], lines.index("REFERENTIEL DE CERTIFICATION DES CERTIFICATS DE "
                                                             "COMPETENCES PROFESSIONNELLES"))
    titles = {_squeeze(c.title): c.code for c in rc.competences()}
    table: dict[str, list[str]] = {}
    for line in lines[start:]:
        cells = line.split("\t")
        first = cells[0].removeprefix("▪ ")
        found = [k for k, labels in SESSION_MODALITY_LABELS.items() if first in labels]
        if not found or found[0] in table:
            continue
        rest, codes = _squeeze(cells[1]), []
        while rest and rest != "Sansobjet":
            title = next(t for t in titles if rest.startswith(t))
            codes.append(titles[title])
            rest = rest[len(title):]
        table[found[0]] = codes
        if len(table) == len(SESSION_MODALITY_LABELS):
            return table
    raise AssertionError(f"session table of {key} not found in the seed")


def test_sessions_are_the_certificates(rc: Referential) -> None:
    assert rc.sessions() == ["ccp1", "ccp2", "ccp3", "ccs"]
    assert rc.session_block("ccp3").code == "CCP3"
    with pytest.raises(KeyError, match="ccp3"):
        rc.session_block("ccp4")


def test_session_modalities_differ_from_section_3_2(rc: Referential) -> None:
    # CCP1's table puts CP4 in the mise en situation (§3.2 does not) and CP1/CP2 in the entretien technique.
    assert rc.modalities_of("CP4") == ("entretien_technique", "questionnaire_professionnel")
    assert rc.modalities_of("CP4", "ccp1") == ("mise_en_situation", "entretien_technique")
    assert rc.modalities_of("CP1", "ccp1") == ("mise_en_situation", "entretien_technique")
    assert rc.modalities_of("CP2", "ccp1") == ("mise_en_situation", "entretien_technique")
    assert rc.modalities_of("CP2") == ("mise_en_situation",)
    # CCP3's puts CP10 in the mise en situation.
    assert rc.modalities_of("CP10") == ("entretien_technique", "questionnaire_professionnel")
    assert rc.modalities_of("CP10", "ccp3") == ("mise_en_situation", "entretien_technique",
                                                "questionnaire_professionnel")
    # §3.2 stays what each competence carries; a competence another session evaluates keeps §3.2.
    assert rc.competence("CP4").modalities == ("entretien_technique", "questionnaire_professionnel")
    assert rc.modalities_of("CP9", "ccp1") == rc.competence("CP9").modalities
    assert rc.modalities_of("CCS2", "ccs") == ("questionnement_productions",)
    with pytest.raises(KeyError):
        rc.modalities_of("CP4", "ccp9")


def test_session_tables_match_seed(rc: Referential, seed_text: str) -> None:
    for key in rc.sessions():
        seed = _seed_session(seed_text, rc, key)
        mine = {row.modality: list(row.competences) for row in rc.session_block(key).session}
        assert mine == {k: v for k, v in seed.items() if v}, key
        # Every competence of the certificate is evaluated in its session.
        assert {c for row in mine.values() for c in row} == {c.code for c in rc.session_block(key).competences}


def test_seed_line_comments_point_at_the_rows(rc: Referential, seed_text: str) -> None:
    lines = seed_text.splitlines()
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    checked = 0
    comp = None
    for line in text.splitlines():
        m = re.match(r"\s+- code: (\S+)", line)
        if m:
            comp = m[1]
        m = re.match(r"\s+modalities: \[.*\]  # seed line (\d+)$", line)
        if m:
            assert lines[int(m[1]) - 1].startswith(rc.competence(str(comp)).title + "\t"), comp
            checked += 1
        m = re.match(r"\s+(\w+): \[.*\]  # seed line (\d+)$", line)
        if m and m[1] in SESSION_MODALITY_LABELS:
            first = lines[int(m[2]) - 1].split("\t")[0].removeprefix("▪ ")
            assert first in SESSION_MODALITY_LABELS[m[1]], line
            checked += 1
    assert checked == 20 + 11


def test_transversals_and_their_competences(rc: Referential, seed_text: str) -> None:
    assert [(t.code, t.title) for t in rc.transversals] == [
        ("CT1", "Communiquer par écrit avec les utilisateurs et les techniciens"),
        ("CT2", "Exploiter une documentation technique ou une interface de logiciel en anglais"),
        ("CT3", "Adopter une démarche structurée de diagnostic"),
    ]
    assert rc.transversal("CT3").competences == ("CP3", "CP5")
    assert rc.transversal("CT1").competences == ("CP3", "CP14", "CP9")
    assert [t.code for t in rc.transversals_of("CP9")] == ["CT1", "CT2"]
    assert [t.code for t in rc.transversals_of("CP3")] == ["CT1", "CT3"]
    assert rc.transversals_of("CP1") == ()
    lines = seed_text.splitlines()
    start = lines.index("3.3. Evaluation des compétences transversales")
    assert lines[start + 4] == "Compétences transversales\tCompétences professionnelles concernées"
    table = [line.split("\t") for line in lines[start + 5:start + 17]]  # the 12 rows of the §3.3 table
    assert lines[start + 17] == ""
    seed_map: dict[str, list[str]] = {}
    current = ""
    titles = {c.title: c.code for c in rc.competences()}
    for cells in table:
        current = cells[0] or current
        seed_map.setdefault(current, []).append(titles[cells[1]])
    assert {t.title: list(t.competences) for t in rc.transversals} == seed_map
    for tr in rc.transversals:  # each description paragraph is a whole line of the RP's fiche
        assert tr.description and all(p in lines for p in tr.description), tr.code


def test_competence_without_criteria_is_attachable(rc: Referential, tmp_path: Path) -> None:
    from grader.errors import RubricError
    from grader.rubric import load_rubric

    ids = rc.evidence_ids()
    assert "CCS3" in ids and "CP8" not in ids and "CCS5" not in ids
    assert set(ids) == rc.criterion_ids() | {"CCS3"}
    assert ids.index("CCS3") == ids.index("CCS2.3") + 1  # RC order
    assert rc.competence_of("CCS3").code == "CCS3"
    assert rc.block_of("CCS3").code == "CCS"
    with pytest.raises(KeyError):
        rc.competence_of("CP8")  # a competence with criteria: evidence names one of them

    demo = (Path(__file__).resolve().parents[1] / "rubrics" / "demo.yaml").read_text(encoding="utf-8")
    assert demo.count("criterion: CP9.1") >= 1
    ok = tmp_path / "ccs3.yaml"
    ok.write_text(demo.replace("criterion: CP9.1", "criterion: CCS3", 1), encoding="utf-8")
    assert any(c.criterion == "CCS3" for c in load_rubric(ok).checks)
    bad = tmp_path / "cp9.yaml"
    bad.write_text(demo.replace("criterion: CP9.1", "criterion: CP9", 1), encoding="utf-8")
    with pytest.raises(RubricError, match="CP9"):
        load_rubric(bad)


def test_rubric_names_its_session(rc: Referential, tmp_path: Path) -> None:
    from typing import get_args

    from grader.errors import RubricError
    from grader.rubric import Rubric, load_rubric

    allowed = {a for arg in get_args(Rubric.model_fields["session"].annotation) for a in get_args(arg)}
    assert allowed == set(rc.sessions())
    demo = (Path(__file__).resolve().parents[1] / "rubrics" / "demo.yaml").read_text(encoding="utf-8")
    assert load_rubric(Path(__file__).resolve().parents[1] / "rubrics" / "demo.yaml").session is None
    ok = tmp_path / "ccp2.yaml"
    ok.write_text(demo.replace('version: "1"\n', 'version: "1"\nsession: ccp2\n', 1), encoding="utf-8")
    assert load_rubric(ok).session == "ccp2"
    bad = tmp_path / "ccp4.yaml"
    bad.write_text(demo.replace('version: "1"\n', 'version: "1"\nsession: ccp4\n', 1), encoding="utf-8")
    with pytest.raises(RubricError, match="session"):
        load_rubric(bad)


@pytest.mark.parametrize(("old", "new", "match"), [
    ("mise_en_situation: [CP3, CP4, CP1, CP2]", "mise_en_situation: [CP3, CP4, CP1, CP9]", "CP9"),
    ("entretien_technique: [CP10, CP15, CP12, CP14, CP13, CP11]", "entretien_technique: [CP10, CP12, CP14, CP13, CP11]",
     "CP15"),  # CP15 is evaluated by no modality of the CCP3 session any more
    ("mise_en_situation: [CP10, CP12, CP11]", "oral: [CP10, CP12, CP11]", "oral"),
    ("competences: [CP3, CP5]", "competences: [CP3, CP99]", "CP99"),
])
def test_broken_session_or_transversal_is_rejected(tmp_path: Path, old: str, new: str, match: str) -> None:
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert text.count(old) == 1
    broken = tmp_path / "rc.yaml"
    broken.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(ValidationError, match=match):
        load_referential(broken)


def _grader_referential(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "GRADER_LANG")} | {"COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "grader.cli", "referential", *args], check=False,
                          capture_output=True, text=True, env=env, timeout=60)


def test_cli_lists_session_modalities_transversals_and_ccs3() -> None:
    plain = _grader_referential()
    assert plain.returncode == 0, plain.stderr
    out = plain.stdout
    assert "RC §3.2" in out and "CCP3 —" in out and "CCS —" in out
    cp4 = out[out.index("CP4 "):out.index("CP4.1")]
    assert "modalités : Entretien technique, Questionnaire professionnel" in cp4
    assert "CCS3  aucun critère dans le RC" in out and "criterion: CCS3" in out
    assert "Compétences transversales (RC §3.3)" in out
    assert "CT2 Exploiter une documentation technique ou une interface de logiciel en anglais" in out
    assert "évaluée au travers de : CP15, CP11, CP14, CP5, CP7, CP9, CP13" in out

    ccp1 = _grader_referential("--session", "ccp1")
    assert ccp1.returncode == 0, ccp1.stderr
    out = ccp1.stdout
    assert "table de session du CCP1" in out and "CCP2 —" not in out
    cp4 = out[out.index("CP4 "):out.index("CP4.1")]
    assert ("modalités : Mise en situation professionnelle, Entretien technique "
            "(§3.2 : Entretien technique, Questionnaire professionnel)") in cp4
    assert "CT3" in out and "CT2" not in out.split("(RC §3.3)")[1]  # only the transversals of CCP1's competences

    bad = _grader_referential("--session", "ccp4")
    assert bad.returncode == 2 and "ccp4" in bad.stderr and "ccp1" in bad.stderr
