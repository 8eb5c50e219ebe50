"""An Ansible inventory becomes a roster and the candidates' host addresses (issue #14 §6).

The same room written in INI and in YAML (``tests/fixtures/ansible/``) gives the same roster:
one row per candidate (host or group variable ``candidat``), one ``ip_<role>`` column per host
role (``grader_role``) filled from ``ansible_host`` (``{{ … }}`` rendered with the host's
variables), the candidate-level variables as columns, never a secret nor Ansible's own. The
roster is read back by :func:`grader.roster.load_roster` with a rubric addressing its hosts
as ``{{ ip_srv_lin }}``. Bad inventories are exit 2 with every problem at its ``file:line:col``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from grader.ansible_inventory import column_of, read_inventory, to_roster
from grader.errors import RubricError
from grader.plugins import default_catalogue
from grader.roster import load_roster
from grader.rubric import load_rubric

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "ansible"

EXPECTED_ROWS = [
    {"candidat": "01", "nom": "Camille Martin", "ip_routeur": "10.77.1.2", "ip_srv_lin": "10.77.1.10",
     "domaine": "tssr.lan", "reseau": "10.77.1"},
    {"candidat": "02", "nom": "Yanis Benali", "ip_routeur": "10.77.2.2", "ip_srv_lin": "10.77.2.10",
     "domaine": "tssr.lan", "reseau": "10.77.2"},
]

RUBRIC = """rubric: salle
title: "Salle B12"
variables:
  ip_srv_lin: {description: "adresse du serveur Linux"}
  ip_routeur: {description: "adresse du routeur"}
  reseau: {description: "réseau du candidat"}
credentials:
  correcteur: {username: grader, key_file: /nonexistent/id_ed25519}
hosts:
  - {name: srv-lin, role: srv-lin, platform: linux, address: "{{ ip_srv_lin }}", credential: correcteur}
  - {name: routeur, role: routeur, platform: linux, address: "{{ ip_routeur }}", port: 2222, credential: correcteur}
checks:
  - {id: apache, check: linux.package_installed, role: srv-lin, params: {package: apache2}, criterion: CP9.1}
"""


def grader(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, "COLUMNS": "200", "GRADER_LANG": "fr"})


@pytest.mark.parametrize("name", ["salle.ini", "salle.yaml"])
def test_ini_and_yaml_give_the_same_roster(name: str) -> None:
    imported = to_roster(read_inventory(FIXTURES / name))
    assert imported.columns == ["candidat", "nom", "ip_routeur", "ip_srv_lin", "domaine", "reseau"]
    assert imported.rows == EXPECTED_ROWS
    assert imported.hosts["01"]["routeur"].port == "2222" and imported.hosts["02"]["routeur"].port == "2222"
    assert imported.hosts["01"]["srv-lin"].user == "grader"  # from all:vars
    assert any("srv-wan" in note for note in imported.notes)  # the exam's own server, no candidat: left out


def test_group_vars_merge_as_ansible_does_children_over_parents_host_over_groups(tmp_path: Path) -> None:
    (tmp_path / "inv.ini").write_text(
        "[all:vars]\nsalle=B12\nreseau=0.0.0\n\n[salle:children]\nc01\n\n[salle:vars]\nreseau=10.0.0\ncandidat=00\n\n"
        "[c01]\nsrv grader_role=srv ansible_host=10.77.1.10 salle=B13\n\n[c01:vars]\ncandidat=01\nreseau=10.77.1\n",
        encoding="utf-8")
    imported = to_roster(read_inventory(tmp_path / "inv.ini"))
    assert imported.rows == [{"candidat": "01", "nom": "", "ip_srv": "10.77.1.10", "reseau": "10.77.1",
                              "salle": "B13"}]


def test_group_vars_and_host_vars_folders_next_to_the_inventory_are_read() -> None:
    imported = to_roster(read_inventory(FIXTURES / "vars-dirs" / "inventaire"))
    assert imported.rows == [{"candidat": "07", "nom": "Léa Dubois", "ip_srv_lin": "10.77.7.10", "reseau": "10.77.7"}]


def test_secrets_and_ansible_variables_never_become_columns(tmp_path: Path) -> None:
    (tmp_path / "inv.yaml").write_text(
        "all:\n  hosts:\n    srv: {candidat: '01', grader_role: srv, ansible_host: 10.0.0.1, ansible_password: x,"
        " mot_de_passe_admin: y, vault_token: z, api_key: k}\n", encoding="utf-8")
    imported = to_roster(read_inventory(tmp_path / "inv.yaml"))
    assert imported.columns == ["candidat", "nom", "ip_srv"]
    assert any("mot_de_passe_admin" in note and "api_key" in note for note in imported.notes)
    assert "ansible_password" not in " ".join(imported.notes)


def test_a_candidate_id_written_as_a_yaml_number_keeps_its_leading_zeros(tmp_path: Path) -> None:
    (tmp_path / "inv.yml").write_text("all:\n  hosts:\n    srv: {candidat: 07, grader_role: srv, reseau: 10.77.7}\n"
                                      "    pc: {candidat: 12, grader_role: pc}\n", encoding="utf-8")
    rows = to_roster(read_inventory(tmp_path / "inv.yml")).rows
    assert [row["candidat"] for row in rows] == ["07", "12"] and rows[0]["reseau"] == "10.77.7"


def test_a_host_without_ansible_host_is_reached_by_its_inventory_name() -> None:
    from grader.ansible_inventory import parse_ini

    inv = parse_ini("[c01]\nc01-srv.salle.lan grader_role=srv candidat=01\n", "x.ini")
    inv.group("all")
    assert to_roster(inv).rows[0]["ip_srv"] == "c01-srv.salle.lan"


def test_the_roster_is_read_back_with_a_rubric_addressing_hosts_by_role_columns(tmp_path: Path) -> None:
    proc = grader("roster", "from-ansible", str(FIXTURES / "salle.ini"), "-o", str(tmp_path / "candidats.csv"),
                  "--hosts-out", str(tmp_path / "hotes.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert "2 candidats" in proc.stderr and "srv-wan" in proc.stderr
    (tmp_path / "bareme.yaml").write_text(RUBRIC, encoding="utf-8")
    rubric = load_rubric(tmp_path / "bareme.yaml", default_catalogue(), with_roster=True)
    candidates = load_roster(tmp_path / "candidats.csv", rubric)
    assert [(c.id, c.name, c.variables["ip_srv_lin"]) for c in candidates] == [
        ("01", "Camille Martin", "10.77.1.10"), ("02", "Yanis Benali", "10.77.2.10")]
    hosts = YAML(typ="safe").load((tmp_path / "hotes.yaml").read_text(encoding="utf-8"))
    assert hosts["hosts"] == [{"name": "routeur", "role": "routeur", "address": "{{ ip_routeur }}", "port": 2222},
                              {"name": "srv-lin", "role": "srv-lin", "address": "{{ ip_srv_lin }}"}]
    assert hosts["candidats"]["02"]["srv-lin"] == {"address": "10.77.2.10", "user": "grader", "inventory": "c02-srv"}


def test_without_output_the_roster_is_printed() -> None:
    proc = grader("roster", "from-ansible", str(FIXTURES / "salle.yaml"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "candidat;nom;ip_routeur;ip_srv_lin;domaine;reseau"
    assert proc.stdout.splitlines()[2] == "02;Yanis Benali;10.77.2.2;10.77.2.10;tssr.lan;10.77.2"


def test_group_by_and_role_var_name_other_variables(tmp_path: Path) -> None:
    (tmp_path / "inv.ini").write_text("[poste07]\nsrv fonction=web poste=07 ansible_host=10.0.7.1\n", encoding="utf-8")
    imported = to_roster(read_inventory(tmp_path / "inv.ini"), group_by="poste", role_var="fonction")
    assert imported.rows == [{"candidat": "07", "nom": "", "ip_web": "10.0.7.1"}]
    assert column_of("srv.lin-2") == "ip_srv_lin_2"


def test_a_bad_ini_inventory_is_exit_2_with_each_problem_at_its_line() -> None:
    proc = grader("roster", "from-ansible", str(FIXTURES / "bad.ini"))
    assert proc.returncode == 2
    located = [line for line in proc.stderr.splitlines() if "bad.ini:" in line]
    assert [line.split(": ", 1)[0].rsplit("bad.ini:", 1)[1] for line in located] == ["3:1", "7:1", "9:1", "13:1"]
    assert "plage d'hôtes" in located[0] and "reseau 10.77.1" in located[1] and "[c01:hosts2]" in located[2]
    assert "Traceback" not in proc.stderr


def test_a_bad_yaml_inventory_is_exit_2_with_each_problem_at_its_line() -> None:
    proc = grader("roster", "from-ansible", str(FIXTURES / "bad.yaml"))
    assert proc.returncode == 2
    located = [line for line in proc.stderr.splitlines() if "bad.yaml:" in line]
    assert [line.split(": ", 1)[0].rsplit("bad.yaml:", 1)[1] for line in located] == ["7:9", "8:9", "9:7"]
    assert "c01-srv2" in located[0] and "grader_role" in located[1] and "hots" in located[2]


@pytest.mark.parametrize(("text", "where", "said"), [
    ("all:\n  hosts:\n    a: {x: 1\n", "inv.yaml:4:1", "YAML invalide"),
    ("- a\n- b\n", "inv.yaml:1:1", "dictionnaire de groupes"),
    ("all:\n  hosts:\n    srv: {candidat: '01', grader_role: srv, ansible_host: '{{ absent }}.1'}\n",
     "inv.yaml:3:5", "absent"),
    ("all:\n  hosts:\n    srv: {candidat: '01', grader_role: srv, ansible_port: http}\n", "inv.yaml:3:5", "http"),
    ("all:\n  hosts:\n    srv: {ansible_host: 10.0.0.1}\n", "inv.yaml:1:1", "--group-by"),
    ("all:\n  children:\n    a: {children: {b: {children: {a: {}}}}}\n", "inv.yaml", "boucle"),
])
def test_each_bad_yaml_is_located(tmp_path: Path, text: str, where: str, said: str) -> None:
    (tmp_path / "inv.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RubricError) as caught:
        to_roster(read_inventory(tmp_path / "inv.yaml"))
    assert any(where in p and said in p for p in caught.value.problems), caught.value.problems


def test_an_inventory_that_is_not_text_is_a_located_problem(tmp_path: Path) -> None:
    (tmp_path / "inv").write_bytes(b"\xff\xfe\x00[c01]\n")
    proc = grader("roster", "from-ansible", str(tmp_path / "inv"))
    assert proc.returncode == 2 and "inv:1:1" in proc.stderr and "UTF-8" in proc.stderr
