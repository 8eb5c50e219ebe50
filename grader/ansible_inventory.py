"""An Ansible inventory (INI or YAML) read as a roster: one row per candidate, one address column per host role.

The exam centre often already describes its room for Ansible. ``grader roster from-ansible``
reads that inventory without Ansible (a small INI reader here, ruamel.yaml for YAML): groups,
``:vars`` and ``:children`` sections (INI), ``hosts``/``vars``/``children`` (YAML), host
variables on the host's line, ``group_vars/`` and ``host_vars/`` next to the inventory, and the
variables Ansible itself reads (``ansible_host``, ``ansible_port``, ``ansible_user``). Values
are merged as Ansible does (``all``, then parent groups before their children, groups of a
same depth by name, then the host's own) and ``{{ … }}`` in them is rendered with the host's
variables.

The convention that makes an inventory a roster:

* the candidate a host belongs to is its variable ``candidat`` (``--group-by`` names another),
  usually set once per candidate group (``[c07:vars] candidat=07``); hosts without it (the exam's
  own servers) are left out and listed;
* the host's role is its variable ``grader_role`` (``--role-var``), e.g. ``srv-lin``; it names
  the roster column ``ip_<role>`` (``-`` and ``.`` become ``_``) filled with the host's
  ``ansible_host`` (else its inventory name), which the rubric uses as ``address: "{{ ip_srv_lin }}"``;
* ``nom`` is the candidate's name; any other variable with one value for all the candidate's
  hosts becomes a column (``reseau``...), except Ansible's own (``ansible_*``) and anything that
  looks like a secret, which never goes into a roster.

Problems are located (``file:line:col: what``) and all said at once, as :class:`RubricError`.
"""

from __future__ import annotations

import csv
import io
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.errors import RubricError
from grader.i18n import t

_GROUP = re.compile(r"^[^\s:\[\]=]+$")
_SECTION = re.compile(r"^\[([^\]:\s]+)(?::([A-Za-z]+))?\]\s*(?:[#;].*)?$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RANGE = re.compile(r"\[[^\]]*:[^\]]*\]")
_SECRETISH = re.compile(r"(pass|pwd|secret|mot_?de_?passe|token|key)", re.IGNORECASE)
_YAML_KEYS = ("hosts", "vars", "children")


@dataclass
class Group:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    where: str = ""


@dataclass
class Host:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # the groups that name it directly
    where: str = ""  # file:line:col of its first mention


@dataclass
class Inventory:
    source: str
    groups: dict[str, Group] = field(default_factory=dict)
    hosts: dict[str, Host] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def group(self, name: str, where: str = "") -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name, where=where)
        return self.groups[name]

    def host(self, name: str, where: str) -> Host:
        if name not in self.hosts:
            self.hosts[name] = Host(name, where=where)
        return self.hosts[name]

    def parents(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {name: set() for name in self.groups}
        for group in self.groups.values():
            for child in group.children:
                found.setdefault(child, set()).add(group.name)
        return found

    def depths(self) -> dict[str, int]:
        """Each group's depth under ``all`` (the longest way down); a cycle of children is a problem."""
        parents, depth, visiting = self.parents(), dict[str, int](), set[str]()

        def walk(name: str) -> int:
            if name in depth:
                return depth[name]
            if name in visiting:
                self.problems.append(f"{self.groups[name].where or self.source}: "
                                     + t("ansible.cycle", group=name))
                return 0
            visiting.add(name)
            ups = [p for p in parents.get(name, ()) if p != "all"]
            depth[name] = 0 if name == "all" else 1 + max((walk(p) for p in ups), default=0)
            visiting.discard(name)
            return depth[name]

        for name in list(self.groups):
            walk(name)
        return depth

    def host_groups(self, host: Host) -> set[str]:
        """Every group of the host: those that name it, their ancestors, and ``all``."""
        parents, seen, todo = self.parents(), {"all"}, list(host.groups)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo += parents.get(name, ())
        return seen

    def variables(self, host: Host, depths: dict[str, int]) -> dict[str, Any]:
        """The host's variables as Ansible merges them: ``all``, parents before children, then the host's own."""
        merged: dict[str, Any] = {}
        for name in sorted(self.host_groups(host), key=lambda g: (depths.get(g, 0), g)):
            if name in self.groups:
                merged.update(self.groups[name].vars)
        merged.update(host.vars)
        merged.setdefault("inventory_hostname", host.name)
        return merged


# --- INI --------------------------------------------------------------------------------------------

def _value(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        try:
            return shlex.split(text)[0]
        except (ValueError, IndexError):
            return text
    return text


def parse_ini(text: str, source: str, into: Inventory | None = None) -> Inventory:
    inv = into or Inventory(source)
    group, kind = "ungrouped", "hosts"
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        at = f"{source}:{n}:1"
        if line.startswith("["):
            match = _SECTION.match(line)
            if not match or (match.group(2) or "hosts") not in ("hosts", "vars", "children"):
                inv.problems.append(f"{at}: " + t("ansible.bad_section", line=line[:80]))
                group, kind = "", ""
                continue
            group, kind = match.group(1), match.group(2) or "hosts"
            inv.group(group, at)
            continue
        if not group:
            continue  # under a section already refused
        if kind == "children":
            if not _GROUP.match(line):
                inv.problems.append(f"{at}: " + t("ansible.bad_group", name=line[:80]))
                continue
            inv.group(line, at)
            if line not in inv.groups[group].children:
                inv.groups[group].children.append(line)
        elif kind == "vars":
            name, sep, value = line.partition("=")
            if not sep or not _VARIABLE.match(name.strip()):
                inv.problems.append(f"{at}: " + t("ansible.bad_var", text=line[:80]))
                continue
            inv.groups[group].vars[name.strip()] = _value(value)
        else:
            _ini_host(inv, line, at, group)
    return inv


def _ini_host(inv: Inventory, line: str, at: str, group: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        inv.problems.append(f"{at}: " + t("ansible.bad_host_line", error=str(exc)))
        return
    if not tokens:
        return
    name, assignments = tokens[0], tokens[1:]
    if _RANGE.search(name):
        inv.problems.append(f"{at}: " + t("ansible.range", name=name))
        return
    own: dict[str, Any] = {}
    port = re.match(r"^([^:\[\]]+):(\d+)$", name)  # host:port (not an IPv6 address)
    if port:
        name, own["ansible_port"] = port.group(1), port.group(2)
    for token in assignments:
        key, sep, value = token.partition("=")
        if not sep or not _VARIABLE.match(key):
            inv.problems.append(f"{at}: " + t("ansible.bad_var", text=token[:80]))
            return
        own[key] = value
    host = inv.host(name, at)
    host.vars.update(own)
    if group not in host.groups:
        host.groups.append(group)
    inv.group(group, at)


# --- YAML -------------------------------------------------------------------------------------------

def _at(source: str, node: Any, key: Any = None) -> str:
    try:
        line, col = node.lc.key(key) if key is not None else (node.lc.line, node.lc.col)
        return f"{source}:{line + 1}:{col + 1}"
    except (AttributeError, KeyError, TypeError):
        return f"{source}:1:1"


def parse_yaml(text: str, source: str, into: Inventory | None = None) -> Inventory:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    inv = into or Inventory(source)
    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else f"{source}:1:1"
        inv.problems.append(f"{where}: " + t("ansible.bad_yaml", error=str(exc.problem or exc)))
        return inv
    except YAMLError as exc:
        inv.problems.append(f"{source}:1:1: " + t("ansible.bad_yaml", error=str(exc)))
        return inv
    if data is None:
        return inv
    if not isinstance(data, dict):
        inv.problems.append(f"{source}:1:1: " + t("ansible.yaml_not_mapping"))
        return inv
    for name, node in data.items():
        _yaml_group(inv, str(name), node, _at(source, data, name))
    return inv


def _yaml_group(inv: Inventory, name: str, node: Any, where: str) -> None:
    group = inv.group(name, where)
    if node is None:
        return
    if not isinstance(node, dict):
        inv.problems.append(f"{where}: " + t("ansible.yaml_group", group=name))
        return
    for key, value in node.items():
        at = _at(inv.source, node, key)
        if key not in _YAML_KEYS:
            inv.problems.append(f"{at}: " + t("ansible.yaml_key", name=key, group=name))
            continue
        if value is None:
            continue
        if not isinstance(value, dict):
            inv.problems.append(f"{at}: " + t("ansible.yaml_group", group=f"{name}.{key}"))
            continue
        if key == "vars":
            group.vars.update(_yaml_vars(inv, value))
        elif key == "children":
            for child, child_node in value.items():
                if str(child) not in group.children:
                    group.children.append(str(child))
                _yaml_group(inv, str(child), child_node, _at(inv.source, value, child))
        else:
            for host_name, host_vars in value.items():
                host_at = _at(inv.source, value, host_name)
                if _RANGE.search(str(host_name)):
                    inv.problems.append(f"{host_at}: " + t("ansible.range", name=host_name))
                    continue
                if host_vars is not None and not isinstance(host_vars, dict):
                    inv.problems.append(f"{host_at}: " + t("ansible.yaml_host", host=host_name))
                    continue
                host = inv.host(str(host_name), host_at)
                host.vars.update(_yaml_vars(inv, host_vars or {}))
                if name not in host.groups:
                    host.groups.append(name)


def _yaml_vars(inv: Inventory, node: Any) -> dict[str, Any]:
    found = {}
    for key, value in node.items():
        if not _VARIABLE.match(str(key)):
            inv.problems.append(f"{_at(inv.source, node, key)}: " + t("ansible.bad_var", text=str(key)[:80]))
            continue
        found[str(key)] = value
    return found


def _vars_file(inv: Inventory, path: Path) -> dict[str, Any]:
    """A ``group_vars/NAME.yml`` (or ``host_vars``) file: a YAML mapping of variables."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    source = str(path)
    try:
        data = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else f"{source}:1:1"
        inv.problems.append(f"{where}: " + t("ansible.bad_yaml", error=str(exc.problem or exc)))
        return {}
    except (YAMLError, OSError, UnicodeDecodeError) as exc:
        inv.problems.append(f"{source}:1:1: " + t("ansible.bad_yaml", error=str(exc)))
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        inv.problems.append(f"{source}:1:1: " + t("ansible.yaml_not_mapping"))
        return {}
    saved, inv.source = inv.source, source
    try:
        return _yaml_vars(inv, data)
    finally:
        inv.source = saved


def _side_files(folder: Path, name: str) -> list[Path]:
    found = [folder / f"{name}{ext}" for ext in ("", ".yml", ".yaml") if (folder / f"{name}{ext}").is_file()]
    if (folder / name).is_dir():
        found += sorted(p for p in (folder / name).iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    return found


def read_inventory(path: Path) -> Inventory:
    """Read an inventory file (INI or YAML), with its ``group_vars/`` and ``host_vars/``; problems located."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RubricError([f"{source}:1:1: " + t("ansible.not_utf8")]) from exc
    except OSError as exc:
        raise RubricError([f"{source}:1:1: " + t("file.unreadable", error=exc.strerror)]) from exc
    inv = Inventory(source)
    inv.group("all", f"{source}:1:1")
    if path.suffix.lower() in (".yml", ".yaml", ".json") or _looks_like_yaml(text):
        parse_yaml(text, source, inv)
    else:
        parse_ini(text, source, inv)
    for name, group in list(inv.groups.items()):
        for file in _side_files(path.parent / "group_vars", name):
            group.vars.update(_vars_file(inv, file))
    for name, host in inv.hosts.items():
        for file in _side_files(path.parent / "host_vars", name):
            host.vars.update(_vars_file(inv, file))
    for host in inv.hosts.values():
        if not host.groups:
            host.groups.append("ungrouped")
    inv.group("ungrouped")
    for name, group in inv.groups.items():  # every group is a child of all
        if name != "all" and name not in inv.groups["all"].children:
            inv.groups["all"].children.append(name)
    return inv


def _looks_like_yaml(text: str) -> bool:
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        return stripped == "---" or bool(re.match(r"^[^\s=\[][^=]*:\s*(#.*)?$", stripped))
    return False


# --- the roster -------------------------------------------------------------------------------------

def column_of(role: str) -> str:
    """The roster column of a role's address: ``srv-lin`` -> ``ip_srv_lin``."""
    return "ip_" + re.sub(r"[^A-Za-z0-9_]", "_", role).strip("_").lower()


@dataclass
class Placed:
    """One host of a candidate, as the rubric reaches it."""

    role: str
    address: str
    port: str
    user: str
    inventory_name: str


@dataclass
class Imported:
    """What an inventory gives: the roster's columns and rows, each candidate's hosts, and notes."""

    columns: list[str]
    rows: list[dict[str, str]]
    hosts: dict[str, dict[str, Placed]]
    notes: list[str] = field(default_factory=list)

    def csv_text(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([row.get(c, "") for c in self.columns])
        return out.getvalue()

    def roles(self) -> list[str]:
        return sorted({role for placed in self.hosts.values() for role in placed})

    def hosts_document(self, source: str) -> dict[str, Any]:
        """The hosts file: rubric ``hosts:`` entries to copy (address templates) and each candidate's hosts."""
        entries = []
        for role in self.roles():
            placed = [p[role] for p in self.hosts.values() if role in p]
            entry: dict[str, Any] = {"name": re.sub(r"[^A-Za-z0-9_.-]", "-", role), "role": role,
                                     "address": "{{ " + column_of(role) + " }}"}
            ports = {p.port for p in placed if p.port}
            if len(ports) == 1:
                entry["port"] = int(next(iter(ports)))
            entries.append(entry)
        candidates = {cid: {role: {k: v for k, v in (("address", p.address), ("port", int(p.port) if p.port else None),
                                                     ("user", p.user or None), ("inventory", p.inventory_name))
                                   if v is not None}
                            for role, p in sorted(placed.items())}
                      for cid, placed in self.hosts.items()}
        return {"source": source, "hosts": entries, "candidats": candidates}


def _place(problem: str) -> tuple[str, int, int]:
    """(file, line, column) of a located problem, to say them in the file's order."""
    match = re.match(r"^(.*?):(\d+):(\d+): ", problem)
    return (match.group(1), int(match.group(2)), int(match.group(3))) if match else (problem, 0, 0)


def _natural(text: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _render(value: Any, variables: dict[str, Any]) -> Any:
    """``{{ … }}`` in an inventory value, rendered with the host's variables (as Ansible would)."""
    if not isinstance(value, str) or "{{" not in value:
        return value
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined)
    for _ in range(5):
        value = env.from_string(value).render(variables)
        if "{{" not in value:
            break
    return value


def _scalar(value: Any) -> str | None:
    """A value as a roster cell; a YAML number keeps its leading zeros as written (``candidat: 07`` is ``07``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    width = getattr(value, "_width", None)
    if isinstance(value, int) and isinstance(width, int) and value >= 0:
        return str(value).zfill(width)
    if isinstance(value, str | int | float):
        return str(value)
    return None


def to_roster(inv: Inventory, *, group_by: str = "candidat", role_var: str = "grader_role") -> Imported:
    """The roster and the candidates' hosts of an inventory (see the module docstring for the convention)."""
    depths = inv.depths()  # may add a problem (a cycle of children)
    from jinja2 import TemplateError

    problems, notes = list(inv.problems), []
    by_candidate: dict[str, dict[str, Placed]] = {}
    values: dict[str, dict[str, dict[str, Any]]] = {}  # candidate -> host -> its variables
    names: dict[str, str] = {}
    left_out = []
    for host in inv.hosts.values():
        raw = inv.variables(host, depths)
        try:
            variables = {k: _render(v, raw) for k, v in raw.items()}
        except (TemplateError, TypeError, ValueError, ArithmeticError) as exc:  # undefined variable, bad syntax...
            problems.append(f"{host.where}: " + t("ansible.template", host=host.name, error=str(exc)))
            continue
        candidate = _scalar(variables.get(group_by))
        if not candidate:
            left_out.append(host.name)
            continue
        role = _scalar(variables.get(role_var))
        if not role:
            problems.append(f"{host.where}: " + t("ansible.no_role", host=host.name, candidate=candidate, var=role_var))
            continue
        placed = by_candidate.setdefault(candidate, {})
        if role in placed:
            problems.append(f"{host.where}: " + t("ansible.duplicate_role", host=host.name, candidate=candidate,
                                                   role=role, other=placed[role].inventory_name))
            continue
        placed[role] = Placed(role, _scalar(variables.get("ansible_host")) or host.name,
                              _scalar(variables.get("ansible_port")) or "", _scalar(variables.get("ansible_user")) or "",
                              host.name)
        port = placed[role].port
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            problems.append(f"{host.where}: " + t("ansible.bad_port", host=host.name, port=port))
        values.setdefault(candidate, {})[host.name] = variables
        name = _scalar(variables.get("nom"))
        if name:
            names.setdefault(candidate, name)
    if problems:
        raise RubricError(sorted(problems, key=_place))
    if not by_candidate:
        raise RubricError([f"{inv.source}:1:1: " + t("ansible.no_candidates", var=group_by)])
    if left_out:
        notes.append(t("ansible.left_out", hosts=", ".join(sorted(left_out, key=_natural)), var=group_by))
    roles = sorted({role for placed in by_candidate.values() for role in placed})
    shared, skipped = _shared_variables(values, {group_by, role_var, "nom", "candidat", "inventory_hostname"})
    if len({column_of(r) for r in roles}) != len(roles):
        raise RubricError([f"{inv.source}:1:1: " + t("ansible.same_column", roles=", ".join(roles))])
    rows = []
    for candidate in sorted(by_candidate, key=_natural):
        row = {"candidat": candidate, "nom": names.get(candidate, "")}
        row.update({column_of(role): p.address for role, p in by_candidate[candidate].items()})
        row.update({name: value for name, value in shared.get(candidate, {}).items()})
        rows.append(row)
        missing = [r for r in roles if r not in by_candidate[candidate]]
        if missing:
            notes.append(t("ansible.missing_roles", candidate=candidate, roles=", ".join(missing)))
    if skipped:
        notes.append(t("ansible.skipped_vars", names=", ".join(sorted(skipped))))
    for role in roles:
        ports = {p[role].port for p in by_candidate.values() if role in p and p[role].port}
        if len(ports) > 1:
            notes.append(t("ansible.ports_differ", role=role, ports=", ".join(sorted(ports, key=_natural))))
    shared_columns = sorted({name for per in shared.values() for name in per})
    return Imported(["candidat", "nom"] + [column_of(r) for r in roles] + shared_columns, rows,
                    {c: by_candidate[c] for c in sorted(by_candidate, key=_natural)}, notes)


def _shared_variables(values: dict[str, dict[str, dict[str, Any]]],
                      reserved: set[str]) -> tuple[dict[str, dict[str, str]], set[str]]:
    """Per candidate, the variables with one scalar value on all its hosts; and the names left out (why: notes)."""
    shared: dict[str, dict[str, str]] = {}
    skipped: set[str] = set()
    for candidate, hosts in values.items():
        names = {n for variables in hosts.values() for n in variables}
        for name in names:
            if name in reserved or name.startswith(("ansible_", "grader_")):
                continue
            if _SECRETISH.search(name):
                skipped.add(name)
                continue
            seen = {_scalar(variables.get(name)) for variables in hosts.values()}
            if len(seen) != 1 or None in seen:
                skipped.add(name)
                continue
            shared.setdefault(candidate, {})[name] = seen.pop() or ""
    taken = {n for per in shared.values() for n in per}
    return shared, skipped - taken
