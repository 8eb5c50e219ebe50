"""Rosters: one row per candidate, validated against the rubric's variables, every problem located."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.errors import RubricError
from grader.roster import Candidate, load_roster
from grader.rubric import Rubric, load_rubric

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
ROSTERS = FIXTURES / "rosters"

PROBLEM = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<what>.+?) — (?P<how>.+)$", re.DOTALL)

#: The demo rubric's shared hypervisor: a roster without the column gets its default.
HV = {"hyperviseur": "10.77.0.50"}

DEMO_CANDIDATES = [
    Candidate("01", "Camille Martin", {"reseau": "10.77.1", **HV}),
    Candidate("02", "Yanis Benali", {"reseau": "10.77.2", **HV}),
    Candidate("03", "Léa Dubois", {"reseau": "10.77.3", **HV}),
]


@pytest.fixture(scope="module")
def demo() -> Rubric:
    return load_rubric(ROOT / "rubrics" / "demo.yaml")


@pytest.fixture(scope="module")
def dns_rubric() -> Rubric:
    """No required variable (``domaine`` has a default): a one-column roster suffices."""
    return load_rubric(FIXTURES / "rubrics" / "candidate-dns.yaml")


def parse(problem: str) -> tuple[str, int, int, str, str]:
    m = PROBLEM.match(problem)
    assert m, f"not shaped « file:line:col: what — how to fix »: {problem!r}"
    return m["file"], int(m["line"]), int(m["col"]), m["what"], m["how"]


def problems_of(path: Path, rubric: Rubric | None) -> list[str]:
    with pytest.raises(RubricError) as info:
        load_roster(path, rubric)
    return info.value.problems


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    hits = [n for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} occurs {len(hits)} time(s) in {path.name}"
    return hits[nth - 1]


# --- delimiters and shapes ------------------------------------------------------------


@pytest.mark.parametrize("name", ["semicolon.csv", "comma.csv"])
def test_semicolon_and_comma_rosters_read_the_same(demo: Rubric, name: str) -> None:
    assert load_roster(ROSTERS / name, demo) == DEMO_CANDIDATES


def test_the_demo_roster_matches_the_demo_rubric(demo: Rubric) -> None:
    assert load_roster(ROOT / "rubrics" / "demo-roster.csv", demo) == DEMO_CANDIDATES


def test_tab_delimited_roster(tmp_path: Path, demo: Rubric) -> None:
    path = tmp_path / "tab.csv"
    path.write_text("candidat\tnom\treseau\n01\tCamille Martin\t10.77.1\n", encoding="utf-8")
    assert load_roster(path, demo) == DEMO_CANDIDATES[:1]


def test_quoted_value_containing_the_delimiter(tmp_path: Path, demo: Rubric) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text('candidat,nom,reseau\n01,"Martin, Camille",10.77.1\n', encoding="utf-8")
    assert load_roster(path, demo) == [Candidate("01", "Martin, Camille", {"reseau": "10.77.1", **HV})]


def test_one_column_roster(dns_rubric: Rubric) -> None:
    candidates = load_roster(ROSTERS / "one-column.csv", dns_rubric)
    assert [c.id for c in candidates] == ["01", "02", "03"]
    assert all(c.name == "" for c in candidates)
    # a variable with a default needs no column: every candidate gets the default
    assert all(c.variables == {"domaine": "exam.lan"} for c in candidates)


def test_one_column_roster_without_rubric() -> None:
    assert [c.id for c in load_roster(ROSTERS / "one-column.csv")] == ["01", "02", "03"]


def test_ids_keep_their_leading_zeros_and_surrounding_spaces_are_trimmed(tmp_path: Path, demo: Rubric) -> None:
    path = tmp_path / "spaces.csv"
    path.write_text("candidat ; nom ; reseau\n 007 ; Camille Martin ; 10.77.7 \n", encoding="utf-8")
    assert load_roster(path, demo) == [Candidate("007", "Camille Martin", {"reseau": "10.77.7", **HV})]


def test_utf8_bom_and_accents(demo: Rubric) -> None:
    path = ROSTERS / "bom-accents.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf"), "the fixture must keep its BOM (as Excel writes it)"
    candidates = load_roster(path, demo)
    assert [c.id for c in candidates] == ["01", "02", "03"]  # not "\ufeff01", and « candidat » was found
    assert [c.name for c in candidates] == ["Léa Dubois", "Zoé Lefèvre-Œuvray", "Çağlar Öztürk"]
    assert [c.variables for c in candidates] == [{"reseau": f"10.77.{i}", **HV} for i in (1, 2, 3)]


def test_blank_rows_are_skipped(tmp_path: Path, demo: Rubric) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("candidat;nom;reseau\n01;Camille Martin;10.77.1\n\n;;\n02;Yanis Benali;10.77.2\n\n",
                    encoding="utf-8")
    assert load_roster(path, demo) == DEMO_CANDIDATES[:2]


# --- located problems -------------------------------------------------------------------


def test_missing_variable_column_is_located(demo: Rubric) -> None:
    path = ROSTERS / "missing-variable.csv"
    problems = problems_of(path, demo)
    column = [p for p in problems if "n'a pas de colonne" in p]
    assert len(column) == 1, problems
    file, line, col, what, how = parse(column[0])
    assert (file, line, col) == (str(path), 1, 1)
    assert "reseau" in what
    assert "ajoutez une colonne « reseau »" in how
    assert "10.77.1" in how  # the rubric's description of the variable helps fill it in
    # every problem is located and shaped the same way
    for p in problems:
        parse(p)


def test_missing_value_is_located_at_its_cell(tmp_path: Path, demo: Rubric) -> None:
    path = tmp_path / "hole.csv"
    path.write_text("candidat;nom;reseau\n01;Camille Martin;10.77.1\n02;Yanis Benali;\n", encoding="utf-8")
    problems = problems_of(path, demo)
    assert len(problems) == 1, problems
    _, line, col, what, _ = parse(problems[0])
    assert (line, col) == (line_of(path, "Yanis"), 3)
    assert "reseau" in what


def test_missing_candidat_column(tmp_path: Path, demo: Rubric) -> None:
    path = tmp_path / "nocand.csv"
    path.write_text("numero;nom;reseau\n01;Camille Martin;10.77.1\n", encoding="utf-8")
    problems = problems_of(path, demo)
    assert any("« candidat »" in parse(p)[3] and parse(p)[1] == 1 for p in problems), problems


def test_duplicate_candidate_is_located_on_the_second_row(demo: Rubric) -> None:
    path = ROSTERS / "duplicate-candidate.csv"
    problems = problems_of(path, demo)
    assert len(problems) == 1, problems
    file, line, col, what, _ = parse(problems[0])
    assert file == str(path)
    assert line == line_of(path, "01;", nth=2)
    assert col == 1
    assert "01" in what and "double" in what


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path, demo: Rubric) -> None:
    # Regression: rows were numbered by enumerate(), which does not count the blank lines csv skips.
    path = tmp_path / "blank-dup.csv"
    path.write_text("candidat;nom;reseau\n01;Camille Martin;10.77.1\n\n\n01;Léa Dubois;10.77.3\n", encoding="utf-8")
    problems = problems_of(path, demo)
    assert len(problems) == 1, problems
    assert parse(problems[0])[1] == line_of(path, "Léa") == 5


def test_more_values_than_columns_is_a_located_problem(tmp_path: Path, demo: Rubric) -> None:
    # Regression: an unquoted comma in a name crashed with AttributeError ('list' has no 'strip').
    path = tmp_path / "unquoted.csv"
    path.write_text("candidat,nom,reseau\n01,Camille Martin,10.77.1\n02,Benali, Yanis,10.77.2\n", encoding="utf-8")
    problems = problems_of(path, demo)
    assert len(problems) == 1, problems
    _, line, col, what, how = parse(problems[0])
    assert (line, col) == (line_of(path, "Benali"), 4)
    assert "4 valeurs pour 3 colonnes" in what
    assert "guillemets" in how


def test_secret_looking_column_is_refused(demo: Rubric) -> None:
    path = ROSTERS / "secret-column.csv"
    problems = problems_of(path, demo)
    assert len(problems) == 1, problems
    file, line, col, what, how = parse(problems[0])
    header = path.read_text(encoding="utf-8").splitlines()[0].split(";")
    assert (file, line, col) == (str(path), 1, header.index("mot_de_passe") + 1)
    assert "mot_de_passe" in what and "secret" in what
    assert "password_env" in how
    assert "Azerty-2024!" not in problems[0], "the error must not repeat the secret"


@pytest.mark.parametrize("column", ["password", "Mot_De_Passe", "motdepasse", "api_token", "PWD"])
def test_other_secret_looking_columns_are_refused(tmp_path: Path, demo: Rubric, column: str) -> None:
    path = tmp_path / "secret.csv"
    path.write_text(f"candidat;reseau;{column}\n01;10.77.1;x\n", encoding="utf-8")
    problems = problems_of(path, demo)
    assert [parse(p)[1:3] for p in problems] == [(1, 3)]


def test_empty_roster(tmp_path: Path, demo: Rubric) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("candidat;nom;reseau\n", encoding="utf-8")
    problems = problems_of(path, demo)
    assert len(problems) == 1 and "aucun candidat" in parse(problems[0])[3]


def test_every_problem_is_reported_at_once(tmp_path: Path, demo: Rubric) -> None:
    path = tmp_path / "many.csv"
    path.write_text("candidat;nom;reseau;token\n01;A;10.77.1;t\n01;B;10.77.2;t\n;C;10.77.3;t\n04;D;;t\n",
                    encoding="utf-8")
    problems = problems_of(path, demo)
    assert [parse(p)[1] for p in problems] == [1, 3, 4, 5], problems


# --- rosters as Excel writes them (issue #14) ---------------------------------------------


def test_a_cp1252_roster_reads(demo: Rubric) -> None:
    path = ROSTERS / "cp1252-crlf.csv"  # « CSV (séparateur : point-virgule) » from Excel on a French Windows
    assert b"\xe9" in path.read_bytes() and b"\r\n" in path.read_bytes(), "the fixture must stay cp1252 with CRLF"
    candidates = load_roster(path, demo)
    assert [(c.id, c.name, c.variables) for c in candidates] == [
        ("01", "Hélène Dœuf", {"reseau": "10.77.1", **HV}), ("02", "François Éric", {"reseau": "10.77.2", **HV})]


def test_a_utf16_tab_separated_roster_reads(demo: Rubric) -> None:
    path = ROSTERS / "utf16-tab.csv"  # « Texte Unicode » from Excel: UTF-16 with BOM, tabs
    assert path.read_bytes().startswith(b"\xff\xfe"), "the fixture must keep its UTF-16 BOM"
    assert [c.name for c in load_roster(path, demo)] == ["Hélène Dœuf", "Zoé Lefèvre"]


def test_utf8_without_bom_crlf_and_trailing_empty_cells(tmp_path: Path, demo: Rubric) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("candidat;nom;reseau;;\r\n01;Hélène Dœuf;10.77.1;;\r\n".encode())
    assert load_roster(path, demo) == [Candidate("01", "Hélène Dœuf", {"reseau": "10.77.1", **HV})]


def test_the_separator_can_be_forced(tmp_path: Path, demo: Rubric) -> None:
    path = tmp_path / "forced.csv"  # the header has more commas than semicolons: detection would pick « , »
    path.write_text("candidat;noms, prénoms, alias;reseau\n01;Martin, Camille, cam;10.77.1\n", encoding="utf-8")
    assert load_roster(path, demo, separator=";") == [
        Candidate("01", "", {"noms, prénoms, alias": "Martin, Camille, cam", "reseau": "10.77.1", **HV})]
    assert load_roster(path.with_name("forced.csv"), demo, separator=";")[0].variables["reseau"] == "10.77.1"
    tab = tmp_path / "tab.csv"
    tab.write_text("candidat\tnom\treseau\n01\tA\t10.77.1\n", encoding="utf-8")
    assert load_roster(tab, demo, separator="tab") == [Candidate("01", "A", {"reseau": "10.77.1", **HV})]


def test_an_unknown_separator_is_a_usage_error(demo: Rubric) -> None:
    from grader.errors import UsageError

    with pytest.raises(UsageError, match="« : »"):
        load_roster(ROSTERS / "semicolon.csv", demo, separator=":")


@pytest.mark.parametrize(("content", "line", "said"), [
    (b"PK\x03\x04\x14\x00\x06\x00", 1, "classeur"),  # the .xlsx itself
    (b"\xef\xbb\xbfcandidat;nom;reseau\n01;A;10.77.1\n02;\xe9;10.77.2\n", 3, "utf-8"),  # a BOM, then not UTF-8
    (b"candidat;nom;reseau\n01;A\x00B;10.77.1\n", 2, "octet nul"),
    (b"candidat;candidat;reseau\n01;01;10.77.1\n", 1, "en double"),
    (b"candidat;nom;;reseau\n01;A;x;10.77.1\n", 2, "sans titre"),
], ids=["xlsx", "bad-utf8-after-bom", "nul", "duplicate-column", "unnamed-column"])
def test_bad_input_is_a_located_problem_never_a_traceback(tmp_path: Path, demo: Rubric, content: bytes, line: int,
                                                           said: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    problems = problems_of(path, demo)
    assert any(parse(p)[1] == line and said in p.lower() for p in problems), problems


def test_values_that_make_an_invalid_parameter_are_located_in_the_roster_and_the_rubric(
        tmp_path: Path, demo: Rubric) -> None:
    # reseau=127.0 makes srv-lin's address « 127.0.10 »: neither an address nor a name. Said at the cell,
    # with the place in the rubric, before any host is contacted (not a pydantic dump in the report).
    path = tmp_path / "faux.csv"
    path.write_text("candidat;nom;reseau\n01;Camille Martin;10.77.1\n02;Yanis Benali;127.0\n", encoding="utf-8")
    problems = problems_of(path, demo)
    assert problems, "a roster value that breaks the rubric must be refused"
    demo_text = (ROOT / "rubrics" / "demo.yaml").read_text(encoding="utf-8")
    srv_lin = next(n for n, line in enumerate(demo_text.splitlines(), 1) if 'address: "{{ reseau }}.10"' in line)
    first = problems[0]
    file, line, col, what, _ = parse(first)
    assert (file, line, col) == (str(path), 3, 3)
    assert "02" in what and "reseau=127.0" in what and "127.0.10" in what
    assert f"demo.yaml:{srv_lin}:5" in what
    assert all(parse(p)[1:3] == (3, 3) for p in problems)
    assert not any("validation error" in p or "pydantic" in p for p in problems)


def test_an_ip_parameter_built_from_a_variable_validates_against_the_roster(tmp_path: Path) -> None:
    rubric_path = tmp_path / "dhcp.yaml"
    rubric_path.write_text("""\
rubric: dhcp
title: Étendue DHCP
variables:
  reseau: {description: "ex. 10.77.1"}
credentials:
  adm: {username: admin, password_env: WINRM_PW}
hosts:
  - {name: dc, role: dc, platform: windows, address: "{{ reseau }}.20", transport: winrm, credential: adm}
checks:
  - id: etendue
    check: windows.dhcp_scope
    host: dc
    params: {scope: "{{ reseau }}.0"}
    criterion: CP5.1
""", encoding="utf-8")
    rubric = load_rubric(rubric_path, with_roster=True)
    assert len(load_roster(ROSTERS / "cp1252-crlf.csv", rubric)) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("candidat,reseau\n01,10.77.1\n02,10.77\n", encoding="utf-8")
    problems = problems_of(bad, rubric)
    assert [parse(p)[1:3] for p in problems] == [(3, 2), (3, 2)]  # dc's address, then the scope
    what = parse(problems[1])[3]
    assert "'10.77.0'" in what and f"{rubric_path}:13:" in what and "checks.0.params.scope" in what
