"""The machine-readable RC must be the official one, copied, not rewritten.

The seed-backed tests re-read the RC tables of the source document and prove that every
criterion is a verbatim substring of it, and that the criteria of each competence, joined with
single spaces, give back the table cell exactly: the split into criteria lost and added nothing.
"""

from __future__ import annotations

import os
import re
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
