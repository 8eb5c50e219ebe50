"""Rubrics (exam scenarios, YAML) and their validation, with every problem located at once.

A trainer writes a rubric; a mistake must cost them one read of one message list, not a
cycle of fix-one-rerun. So loading never stops at the first error: pydantic's errors, unknown
check plugins and criteria, parameter models, template variables and cross references are
all collected, each as ``file:line:column: what is wrong — how to fix it``.
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
import jinja2.meta
import jinja2.nodes
import jinja2.sandbox
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from grader.check import Check
from grader.errors import RubricError
from grader.i18n import N_, t

SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
BUILTIN_VARIABLES = {"candidat", "nom", "addr"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Credential(_Strict):
    """Where a secret lives. Exactly one source; never the secret itself.

    Every field may be a template rendered per candidate (``password_file: "secrets/{{ candidat }}.ad"``):
    each candidate's machines then receive only that candidate's secret.
    """

    username: str = Field(min_length=1)
    key_file: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    agent: bool = False
    #: A password sent to candidates' SSH hosts is refused unless the rubric says so: each machine that
    #: receives it (its owner is root there) can replay it on its neighbours'. Keys are the default.
    allow_password: bool = False

    @property
    def password_based(self) -> bool:
        return bool(self.password_env or self.password_file)

    def per_candidate(self) -> bool:
        """True when the secret's source differs per candidate (a template naming a variable)."""
        return any("{{" in (v or "") for v in (self.password_env, self.password_file, self.key_file))

    def rendered(self, variables: Mapping[str, Any]) -> Credential:
        """This reference for one candidate (templates filled)."""
        fields = {k: render(v, variables) if isinstance(v, str) else v for k, v in self.model_dump().items()}
        return Credential.model_validate(fields)

    @model_validator(mode="after")
    def _one_source(self) -> Credential:
        sources = [bool(self.key_file), bool(self.password_env), bool(self.password_file), self.agent]
        if sum(sources) != 1:
            raise ValueError(t("rubric.one_secret_source"))
        return self


class Variable(_Strict):
    description: str = ""
    #: The value of every candidate whose roster cell is empty; with a default, the roster column is
    #: optional (a roster without it gives every candidate the default).
    default: str | None = None


class SharedHost(_Strict):
    """A machine several candidates work on at once, as the exam's hypervisor shared by a cluster of four.

    Every candidate whose roster gives it the same address (and port, credential and options) is
    graded from one collection on it: one round trip per machine, not per candidate. ``own`` (a
    glob, with the rubric's templates: ``"c{{ candidat }}-*"``) names what on it is the candidate's;
    each candidate's evidence and verdicts see only those objects (their VMs) and the machine's own.
    """

    own: str = Field(min_length=1)


class Host(_Strict):
    name: str = Field(pattern=SLUG)
    role: str = Field(min_length=1)
    platform: Literal["linux", "windows", "network"]
    address: str = Field(min_length=1)
    transport: str = Field(default="ssh", min_length=1)  # the primary channel: its failure is "injoignable"
    #: A channel that runs the primary's probes when the primary cannot reach the host (``guest``: through
    #: the VM's hypervisor); configured in ``options.<fallback>``. None: the host is then injoignable.
    fallback: str | None = Field(default=None, min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)  # None: the transport's usual port
    credential: str | None = None
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)  # per-channel settings, by channel name
    sudo: bool = False
    connect_timeout: float = Field(default=5.0, gt=0)
    #: The longest the grader spends on this host, every channel and stage included (seconds); past it
    #: the host's sessions are closed and what did not come is erreur. Default: see runner.HostJob.budget.
    budget: float | None = Field(default=None, gt=0, le=3600)
    #: Shared by several candidates (see :class:`SharedHost`); None: each candidate has their own.
    shared: SharedHost | None = None


class CheckEntry(_Strict):
    id: str = Field(pattern=SLUG)
    check: str
    host: str | None = None
    role: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    criterion: str
    points: float = Field(default=1.0, ge=0)
    hint: str = ""
    #: What the candidate is asked to do, in the words of the instruction sheet (French, may use the
    #: rubric's templates): ``grader pack consignes`` builds the candidate's sheet from it. It states the
    #: task, never how it is checked; an exam pack requires one on every check (:mod:`grader.packs`).
    task: str = ""
    #: Hosts (of the same candidate) this check's proof passes through, e.g. the router for a
    #: NAT check run from the LAN client: if one of them is not reached, the check is
    #: ``injoignable`` ("could not check"), never ``non_conforme``.
    depends_on: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_target(self) -> CheckEntry:
        if (self.host is None) == (self.role is None):
            raise ValueError(t("rubric.one_target"))
        return self


class Rubric(_Strict):
    rubric: str = Field(pattern=SLUG)
    title: str
    version: str = "1"
    description: str = ""
    session: Literal["ccp1", "ccp2", "ccp3", "ccs"] | None = None  # RC session table the reports follow (None: §3.2)
    variables: dict[str, Variable] = Field(default_factory=dict)
    credentials: dict[str, Credential] = Field(default_factory=dict)
    hosts: list[Host]
    checks: list[CheckEntry]

    # Set by load_rubric: where it came from (for reports and evidence bundles).
    _source: Path | None = PrivateAttr(default=None)
    _text: str = PrivateAttr(default="")
    _warnings: list[str] = PrivateAttr(default_factory=list)
    # What load_rubric validated with: candidate_problems tries a roster's values against the same.
    _tree: Any = PrivateAttr(default=None)
    _catalogue: Any = PrivateAttr(default=None)
    _transports: Any = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def warnings(self) -> list[str]:
        """What load_rubric found risky but allowed (a password every candidate's machine receives), located."""
        return self._warnings

    @property
    def text(self) -> str:
        return self._text

    def templated(self) -> bool:
        """Whether a value differs per candidate (a ``{{ }}`` template in an address, option, parameter...)."""
        values: list[Any] = [[h.address, h.options, h.shared.own if h.shared else ""] for h in self.hosts]
        values += [c.model_dump() for c in self.credentials.values()]
        values += [[e.params, e.hint, e.task] for e in self.checks]
        return any("{" in text for _, text in _strings(values))

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def targets(self, entry: CheckEntry) -> list[Host]:
        """The hosts a check entry applies to (its host, or every host of its role)."""
        if entry.host is not None:
            return [self.host(entry.host)]
        return [h for h in self.hosts if h.role == entry.role]


# --- templates -----------------------------------------------------------------------

_ENV = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def template_variables(text: str) -> set[str]:
    """Variables a template uses (raises jinja2.TemplateSyntaxError on bad syntax)."""
    return set(jinja2.meta.find_undeclared_variables(_ENV.parse(text)))


def render(text: str, variables: Mapping[str, Any]) -> str:
    if "{" not in text:
        return text
    return _ENV.from_string(text).render(**variables)


def render_params(params: Mapping[str, Any], variables: Mapping[str, Any]) -> dict[str, Any]:
    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return render(value, variables)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return {k: walk(v) for k, v in params.items()}


# --- loading with positions ----------------------------------------------------------


def _position(node: Any, loc: Iterable[Any]) -> tuple[int, int]:
    """Best (line, column), 1-based, for a pydantic location inside the ruamel tree."""
    line, col = 0, 0
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line, col = node.lc.key(part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line, col = node.lc.item(part)
            node = node[part]
        else:
            break
    return line + 1, col + 1


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


# How to fix a pydantic error kind (catalogue keys; grader.i18n).
_HOW = {
    "missing": N_("rubric.how.missing"),
    "extra_forbidden": N_("rubric.how.extra_forbidden"),
    "string_pattern_mismatch": N_("rubric.how.string_pattern_mismatch"),
    "literal_error": N_("rubric.how.literal_error"),
    "int_parsing": N_("rubric.how.integer"),
    "int_type": N_("rubric.how.integer"),
    "float_parsing": N_("rubric.how.float_parsing"),
    "bool_parsing": N_("rubric.how.bool_parsing"),
}
# What pydantic says, in the trainer's language (its own text is kept for unknown kinds).
_WHAT = {
    "missing": N_("rubric.what.missing"),
    "extra_forbidden": N_("rubric.what.extra_forbidden"),
    "string_pattern_mismatch": N_("rubric.what.string_pattern_mismatch"),
    "literal_error": N_("rubric.what.literal_error"),
    "int_parsing": N_("rubric.what.integer"),
    "int_type": N_("rubric.what.integer"),
    "int_from_float": N_("rubric.what.integer"),
    "float_parsing": N_("rubric.what.float_parsing"),
    "bool_parsing": N_("rubric.what.bool_parsing"),
    "string_type": N_("rubric.what.string_type"),
    "list_type": N_("rubric.what.list_type"),
    "dict_type": N_("rubric.what.table"),
    "model_type": N_("rubric.what.table"),
    "greater_than_equal": N_("rubric.what.greater_than_equal"),
    "less_than_equal": N_("rubric.what.less_than_equal"),
    "greater_than": N_("rubric.what.greater_than"),
    "string_too_short": N_("rubric.what.string_too_short"),
}


def _what(err: Any) -> str:
    key = _WHAT.get(err["type"])
    if key is None:
        return err["msg"].removeprefix("Value error, ")
    try:
        return t(key, input=err.get("input"), **(err.get("ctx") or {}))
    except (KeyError, IndexError, ValueError, TypeError):  # a context field the message cannot take
        return err["msg"].removeprefix("Value error, ")


def _pydantic_items(tree: Any, exc: ValidationError,
                    prefix: tuple[Any, ...] = ()) -> list[tuple[int, int, str, str, str]]:
    """(line, column, field, what, how) of each error, in the trainer's language."""
    items = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        line, col = _position(tree, loc)
        field = ".".join(str(p) for p in loc) or t("rubric.root")
        what = _what(err)
        if err["type"] == "extra_forbidden" and str(loc[-1]).lower() in {"password", "secret", "passwd", "mot_de_passe"}:
            what = t("rubric.what.secret")
            how = t("rubric.how.secret")
        else:
            how = t(_HOW.get(err["type"]) or N_("rubric.how.default"))
        items.append((line, col, field, what, how))
    return items


def _pydantic_problems(source: str, tree: Any, exc: ValidationError, prefix: tuple[Any, ...] = (),
                       note: str = "") -> list[str]:
    """``note``: said after what is wrong (the sample values a template was rendered with)."""
    return [f"{source}:{line}:{col}: " + t("rubric.field_problem", field=field, what=what + note, how=how)
            for line, col, field, what, how in _pydantic_items(tree, exc, prefix)]


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return t("hint.did_you_mean", names=", ".join(close)) if close else t("rubric.see_checks_list")


def load_rubric(path: Path, catalogue: Mapping[str, type[Check]] | None = None,
                criterion_ids: set[str] | None = None, transports: Mapping[str, Any] | None = None, *,
                with_roster: bool = False) -> Rubric:
    """Load and fully validate a rubric, or raise :class:`RubricError` with every problem.

    A value written as a template (``"{{ reseau }}.20"``) is checked with sample values that fit it
    (:data:`SAMPLES`, and the variable's ``default``): it is a problem only when no sample makes it
    valid, and the message names the samples tried. ``with_roster``: a roster's real values will be
    tried instead (:func:`candidate_problems`, called by :func:`grader.roster.load_roster`), so a
    template that no sample fits is not refused here.
    """
    if catalogue is None:
        from grader.plugins import default_catalogue

        catalogue = default_catalogue()
    if transports is None:  # the channels as declared: validating imports no connection library
        from grader.plugins import default_channel_specs

        transports = default_channel_specs()
    if criterion_ids is None:
        from grader.referential import load_referential

        criterion_ids = set(load_referential().evidence_ids())  # criteria, and CCS3-like competences
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RubricError([f"{source}:1:1: " + t("file.unreadable", error=exc.strerror)]) from exc
    try:
        tree = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise RubricError([f"{source}:{line}:{col}: " + t("rubric.bad_yaml", problem=exc.problem)]) from exc
    if not isinstance(tree, CommentedMap):
        raise RubricError([f"{source}:1:1: " + t("rubric.not_mapping")])
    try:
        rubric = Rubric.model_validate(_plain(tree))
    except ValidationError as exc:
        problems = _pydantic_problems(source, tree, exc)
        # Keep going on what did validate so the trainer sees every problem at once.
        problems += _semantic_problems_partial(source, tree, catalogue, criterion_ids)
        problems += _no_checks_problem(source, tree)
        raise RubricError(problems) from exc
    samples = not with_roster
    problems = _no_checks_problem(source, tree)
    problems += _semantic_problems(source, tree, rubric, catalogue, criterion_ids, samples=samples)
    problems += _transport_problems(source, tree, rubric, catalogue, transports, samples=samples)
    problems += _ignored_setting_problems(source, tree, rubric, catalogue, transports)
    if problems:
        raise RubricError(problems)
    rubric._source = path
    rubric._text = text
    rubric._warnings = _shared_secret_warnings(source, tree, rubric)
    rubric._tree, rubric._catalogue, rubric._transports = tree, catalogue, transports
    return rubric


def _no_checks_problem(source: str, tree: CommentedMap) -> list[str]:
    """A rubric without a single check grades nothing: said, not run."""
    checks = tree.get("checks")
    if isinstance(checks, list) and not checks:
        return ["{}:{}:{}: ".format(source, *_position(tree, ("checks",))) + t("rubric.no_checks")]
    return []


#: Channels that send the credential's password itself, or a proof a hostile server can replay or crack.
_PASSWORD_CHANNELS = ("ssh", "cli", "winrm", "ldap", "smb", "snmp")


def _shared_secret_warnings(source: str, tree: CommentedMap, rubric: Rubric) -> list[str]:
    """One warning per password credential that every candidate's machines would receive alike."""
    warnings = []
    for name, cred in rubric.credentials.items():
        if not cred.password_based or cred.per_candidate():
            continue
        users = sorted({h.name for h in rubric.hosts if _uses_credential(h, name)}
                       | {h.name for e in rubric.checks if any(v == name for _, v in _option_credentials(e.params))
                          for h in rubric.targets(e)})
        if users:
            where = "{}:{}:{}".format(source, *_position(tree, ("credentials", name)))
            warnings.append(f"{where}: " + t("rubric.shared_secret", credential=name, hosts=", ".join(users)))
    return warnings


def _uses_credential(host: Host, name: str) -> bool:
    if host.credential == name and host.transport in _PASSWORD_CHANNELS:
        return True
    return any(v == name for channel, values in host.options.items() if channel in _PASSWORD_CHANNELS
               for _, v in _option_credentials(values))


def _option_credentials(value: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[tuple[Any, ...], str]]:
    """(location, name) of each credential an option names (``credential``, ``*_credential``, and each name of a
    ``*_credentials`` list: the accounts ``smb.access_as`` tries), at any depth."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(v, str) and isinstance(k, str) and (k == "credential" or k.endswith("_credential")):
                yield path + (k,), v
            elif isinstance(v, list) and isinstance(k, str) and k.endswith("_credentials"):
                yield from ((path + (k, n), name) for n, name in enumerate(v) if isinstance(name, str))
            else:
                yield from _option_credentials(v, path + (k,))
    elif isinstance(value, list):
        for n, v in enumerate(value):
            yield from _option_credentials(v, path + (n,))


def _semantic_problems_partial(source: str, tree: CommentedMap, catalogue: Mapping[str, type[Check]],
                               criterion_ids: set[str]) -> list[str]:
    """Checks that need no valid model: unknown plugins and criteria in the raw tree."""
    problems = []
    for i, entry in enumerate(tree.get("checks") or []):
        if not isinstance(entry, CommentedMap):
            continue
        problems += _entry_plugin_problems(source, tree, i, entry, catalogue, criterion_ids)
    return problems


def _entry_plugin_problems(source: str, tree: CommentedMap, i: int, entry: Mapping[str, Any],
                           catalogue: Mapping[str, type[Check]], criterion_ids: set[str]) -> list[str]:
    problems = []
    where = lambda *loc: "{}:{}:{}".format(source, *_position(tree, ("checks", i) + loc))
    plugin = entry.get("check")
    if isinstance(plugin, str) and plugin not in catalogue:
        problems.append(f"{where('check')}: " + t("rubric.unknown_check", check=plugin, hint=_suggest(plugin, catalogue)))
    criterion = entry.get("criterion")
    if isinstance(criterion, str) and criterion not in criterion_ids:
        close = difflib.get_close_matches(criterion, sorted(criterion_ids), n=3, cutoff=0.6)
        hint = t("hint.did_you_mean", names=", ".join(close)) if close else t("rubric.see_referential")
        problems.append(f"{where('criterion')}: " + t("rubric.unknown_criterion", criterion=criterion, hint=hint))
    return problems


def _semantic_problems(source: str, tree: CommentedMap, rubric: Rubric,
                       catalogue: Mapping[str, type[Check]], criterion_ids: set[str], *, samples: bool = True) -> list[str]:
    problems: list[str] = []

    def at(*loc: Any) -> str:
        return "{}:{}:{}".format(source, *_position(tree, loc))

    host_names = [h.name for h in rubric.hosts]
    roles = {h.role for h in rubric.hosts}
    for i, h in enumerate(rubric.hosts):
        if host_names.index(h.name) != i:
            problems.append(f"{at('hosts', i, 'name')}: " + t("rubric.duplicate_host", host=h.name))
        if h.credential is not None and h.credential not in rubric.credentials:
            known = ", ".join(rubric.credentials) or t("rubric.none_declared")
            problems.append(f"{at('hosts', i, 'credential')}: "
                            + t("rubric.undeclared_credential", credential=h.credential, known=known))
        elif h.credential is not None and h.transport == "ssh":
            cred = rubric.credentials[h.credential]
            if cred.password_based and not cred.allow_password:
                problems.append(f"{at('hosts', i, 'credential')}: "
                                + t("rubric.ssh_password", credential=h.credential, host=h.name))
        address_templates = _template_problems(at('hosts', i, 'address'), h.address, rubric, with_addr=False)
        problems += address_templates
        if h.shared is not None:
            problems += _template_problems(at('hosts', i, 'shared', 'own'), h.shared.own, rubric, with_addr=False)
        if not address_templates:
            problems += _sampled_problems(source, tree, rubric, ('hosts', i, 'address'), h.address, check_address,
                                          samples=samples)
    for cred_name, cred in rubric.credentials.items():  # a credential may name a per-candidate secret
        for field_name in ("username", "key_file", "password_env", "password_file"):
            field_value = getattr(cred, field_name)
            if isinstance(field_value, str):
                problems += _template_problems(at('credentials', cred_name, field_name), field_value, rubric,
                                               with_addr=False)

    seen: set[str] = set()
    for i, entry in enumerate(rubric.checks):
        if entry.id in seen:
            problems.append(f"{at('checks', i, 'id')}: " + t("rubric.duplicate_check_id", id=entry.id))
        seen.add(entry.id)
        problems += _entry_plugin_problems(source, tree, i, tree["checks"][i], catalogue, criterion_ids)
        if entry.host is not None and entry.host not in host_names:
            problems.append(f"{at('checks', i, 'host')}: "
                            + t("rubric.undeclared_host", host=entry.host, hosts=", ".join(host_names)))
        for k, dep in enumerate(entry.depends_on):
            if dep not in host_names:
                problems.append(f"{at('checks', i, 'depends_on', k)}: "
                                + t("rubric.undeclared_dependency", host=dep, hosts=", ".join(host_names)))
            elif dep == entry.host or (entry.role is not None and rubric.host(dep).role == entry.role):
                problems.append(f"{at('checks', i, 'depends_on', k)}: " + t("rubric.self_dependency", host=dep))
        if entry.role is not None and entry.role not in roles:
            problems.append(f"{at('checks', i, 'role')}: "
                            + t("rubric.unknown_role", role=entry.role, roles=", ".join(sorted(roles))))
        cls = catalogue.get(entry.check)
        if cls is None:
            continue
        targets = [h for h in rubric.hosts if h.name == entry.host or h.role == entry.role]
        if targets and cls.platform != "any" and cls.platform not in {h.platform for h in targets}:
            problems.append(f"{at('checks', i, 'check')}: " + t("rubric.wrong_platform", check=entry.check,
                                                                  platform=cls.platform,
                                                                  host_platform=targets[0].platform))
        problems += _template_problems(at('checks', i, 'hint'), entry.hint, rubric, with_addr=True)
        problems += _template_problems(at('checks', i, 'task'), entry.task, rubric, with_addr=True)
        # a parameter naming a credential (``password_credential``: a backup repository's password) names a declared one
        for loc, value in _option_credentials(entry.params):
            if "{" not in value and value not in rubric.credentials:
                problems.append(f"{at('checks', i, 'params', *loc)}: "
                                + t("rubric.undeclared_option_credential", credential=value))
        for name, value in _strings(entry.params):
            problems += _template_problems(at('checks', i, 'params', *name), value, rubric, with_addr=True)
        # Parameter types, templates rendered with samples that fit them (or the roster's values, later).
        problems += _sampled_problems(source, tree, rubric, ('checks', i, 'params'), entry.params,
                                      cls.Params.model_validate, samples=samples)
    return problems


def _transport_problems(source: str, tree: CommentedMap, rubric: Rubric, catalogue: Mapping[str, type[Check]],
                        transports: Mapping[str, Any], *, samples: bool = True) -> list[str]:
    """Hosts' transports and channel options, and that each check's channel is configured on its hosts."""
    problems: list[str] = []

    def at(*loc: Any) -> str:
        return "{}:{}:{}".format(source, *_position(tree, loc))

    known = ", ".join(sorted(transports))
    for i, h in enumerate(rubric.hosts):
        channel = transports.get(h.transport)
        if channel is None:
            problems.append(f"{at('hosts', i, 'transport')}: "
                            + t("rubric.unknown_transport", transport=h.transport, known=known))
        elif getattr(channel, "needs_credential", False) and h.credential is None:
            problems.append(f"{at('hosts', i, 'name')}: "
                            + t("rubric.no_credential", host=h.name, transport=h.transport))
        elif h.transport not in h.options and not _defaults_valid(channel):
            problems.append(f"{at('hosts', i, 'transport')}: " + t("rubric.transport_needs_options",
                                                                     transport=h.transport))
        for name, values in h.options.items():
            option_channel = transports.get(name)
            if option_channel is None:
                problems.append(f"{at('hosts', i, 'options', name)}: "
                                + t("rubric.options_unknown_transport", transport=name, known=known))
                continue
            for loc, value in _strings(values):  # options may differ per candidate, like params
                problems += _template_problems(at('hosts', i, 'options', name, *loc), value, rubric, with_addr=True)
            problems += _host_reference_problems(at, rubric, i, name, values, option_channel)
            option_problems = _sampled_problems(source, tree, rubric, ('hosts', i, 'options', name), values,
                                                option_channel.Options.model_validate, samples=samples)
            if option_problems:
                problems += option_problems
                continue
            # valid: the credentials it names (at any depth: snmp's credential sets) must be declared
            for loc, value in _option_credentials(values):
                if "{" in value:
                    continue  # named per candidate: checked when the run resolves it (CredentialError, located)
                if value not in rubric.credentials:
                    problems.append(f"{at('hosts', i, 'options', name, *loc)}: "
                                    + t("rubric.undeclared_option_credential", credential=value))
        if h.fallback is not None:
            problems += _fallback_problems(at, i, h, transports)
    for i, entry in enumerate(rubric.checks):
        cls = catalogue.get(entry.check)
        if cls is None:
            continue
        for wanted in _check_channels(cls, entry.params):
            channel = transports.get(wanted)
            if channel is None or getattr(channel, "grader_side", False):
                continue
            for h in rubric.targets(entry) if (entry.host in {x.name for x in rubric.hosts} or entry.role) else []:
                carried = getattr(transports.get(h.transport), "carries", ())
                if wanted != h.transport and wanted not in h.options and wanted not in carried:
                    problems.append(f"{at('checks', i, 'check')}: " + t("rubric.channel_not_configured",
                                                                          check=entry.check, transport=wanted,
                                                                          host=h.name, host_transport=h.transport))
    return problems


def _host_reference_problems(at: Callable[..., str], rubric: Rubric, i: int, name: str, values: Mapping[str, Any],
                             channel: Any) -> list[str]:
    """An option naming another host of the rubric (``options.guest.hypervisor``: the host whose account
    reaches the VM) names a declared host, not this one, that uses the transport the channel needs."""
    problems: list[str] = []
    host = rubric.hosts[i]
    for key, transports in getattr(channel.Options, "host_fields", {}).items():
        other = values.get(key)
        if not isinstance(other, str) or "{" in other:
            continue
        where = at('hosts', i, 'options', name, key)
        names = [h.name for h in rubric.hosts if h.name != host.name]
        if other not in names:
            problems.append(f"{where}: " + t("rubric.option_unknown_host", host=other, known=", ".join(names) or "-"))
        elif rubric.host(other).transport not in transports:
            problems.append(f"{where}: " + t("rubric.option_host_transport", host=other, transports=", ".join(transports),
                                             host_transport=rubric.host(other).transport))
    return problems


def _defaults_valid(channel: Any) -> bool:
    """Whether a channel works without ``options.<channel>`` (``guest`` must be told its hypervisor and VM)."""
    try:
        channel.Options.model_validate({})
    except ValidationError:
        return False
    return True


def _fallback_problems(at: Callable[..., str], i: int, host: Host, transports: Mapping[str, Any]) -> list[str]:
    """``fallback:`` names a channel configured on the host (``options.<fallback>``) that runs the probes of
    the host's transport (``guest`` runs ``ssh`` probes), other than the transport itself."""
    channel = transports.get(host.fallback or "")
    where = at('hosts', i, 'fallback')
    if channel is None:
        return [f"{where}: " + t("rubric.unknown_transport", transport=host.fallback,
                                 known=", ".join(sorted(transports)))]
    if host.transport not in getattr(channel, "carries", ()):
        return [f"{where}: " + t("rubric.fallback_cannot_carry", fallback=host.fallback, transport=host.transport)]
    if host.fallback not in host.options:
        return [f"{where}: " + t("rubric.fallback_not_configured", fallback=host.fallback)]
    return []


def _check_channels(cls: type[Check], params: Mapping[str, Any]) -> list[str]:
    """The channel(s) a check entry must find configured on its hosts: ``cls.transport``, unless the
    probes its parameters declare do not ride it at all (a ``hypervisor.*`` check with ``backend:
    proxmox`` rides ``pve``, not ``ssh``): then theirs. Parameters that do not validate yet (reported
    by the parameter checks) keep ``cls.transport``."""
    try:
        probes = cls().probes(cls.Params.model_validate(dict(params)))
        found = sorted({p.transport for p in probes.values()} - {"grader"})
    except Exception:  # noqa: BLE001 - a parameter problem is reported by the parameter checks
        return [cls.transport]
    return [cls.transport] if not found or cls.transport in found else found


def _strings(value: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, path + (i,))


def _template_problems(where: str, text: str, rubric: Rubric, *, with_addr: bool) -> list[str]:
    if "{" not in text:
        return []
    try:
        ast = _ENV.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return [f"{where}: " + t("rubric.bad_template", error=exc.message)]
    used = set(jinja2.meta.find_undeclared_variables(ast))
    known = set(rubric.variables) | BUILTIN_VARIABLES
    if not with_addr:
        known.discard("addr")
    problems = [f"{where}: " + t("rubric.undefined_variable", name=name, known=", ".join(sorted(known)))
                for name in sorted(used - known)]
    if with_addr and "addr" in used:  # addr['srv'] names a host of the rubric
        hosts = [h.name for h in rubric.hosts]
        for node in ast.find_all((jinja2.nodes.Getitem, jinja2.nodes.Getattr)):
            target = getattr(node, "node", None)
            if not (isinstance(target, jinja2.nodes.Name) and target.name == "addr"):
                continue
            arg = getattr(node, "arg", None)
            key = node.attr if isinstance(node, jinja2.nodes.Getattr) else (
                arg.value if isinstance(arg, jinja2.nodes.Const) else None)
            if isinstance(key, str) and key not in hosts:
                problems.append(f"{where}: " + t("rubric.unknown_addr_host", host=key, hint=_close(key, hosts)))
    return problems


def _close(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    return t("hint.did_you_mean", names=", ".join(close)) if close else t("rubric.known_hosts", hosts=", ".join(choices))


#: Values a rubric variable is tried with before any roster exists: a network prefix of 3, 2 or 1
#: bytes (``"{{ reseau }}.20"``), a whole address, a name. A templated value is valid when one of
#: them (or the variable's ``default``) makes it valid.
SAMPLES = ("10.0.0", "10.0", "10", "10.0.0.1", "exemple")
_CANDIDATE_SAMPLES = ("01", "1")  # a candidate number as rosters write it, and as ``{{ candidat | int }}`` gives it
_MAX_TRIES = 256


def _sample_variables(rubric: Rubric, chosen: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Sample values for every variable (``chosen`` first), builtins included."""
    sample: dict[str, Any] = {name: v.default or SAMPLES[0] for name, v in rubric.variables.items()}
    sample.update(candidat=_CANDIDATE_SAMPLES[0], nom="exemple")
    sample.update(chosen or {})
    sample["addr"] = {h.name: f"192.0.2.{n}" for n, h in enumerate(rubric.hosts, 1)}
    return sample


def _used_variables(value: Any) -> set[str]:
    used: set[str] = set()
    for _, text in _strings(value):
        if "{" in text:
            try:
                used |= template_variables(text)
            except jinja2.TemplateSyntaxError:
                pass  # said by _template_problems
    return used


def _render_value(value: Any, variables: Mapping[str, Any]) -> Any:
    return render_params({"value": value}, variables)["value"]


def _tries(rubric: Rubric, used: Iterable[str]) -> Iterable[dict[str, str]]:
    names = sorted(n for n in used if n in rubric.variables or n == "candidat")
    choices: list[list[str]] = []
    for n in names:
        default = rubric.variables[n].default if n in rubric.variables else None
        choices.append(list(_CANDIDATE_SAMPLES) if n not in rubric.variables else
                       ([default] if default else []) + list(SAMPLES))
    for values in itertools.islice(itertools.product(*choices), _MAX_TRIES):
        yield dict(zip(names, values, strict=True))


class AddressError(ValueError):
    """A host address that is neither an IP address nor a host name."""


_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def check_address(text: str) -> None:
    """Raise :class:`AddressError` unless ``text`` is an IP address or a DNS name (``10.0.0.999`` is neither)."""
    bare = text.strip()
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    try:
        ipaddress.ip_address(bare)
        return
    except ValueError:
        pass
    name = bare.removesuffix(".")
    labels = name.split(".")
    if (re.fullmatch(r"[0-9.]+", bare) or not name or len(name) > 253
            or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit()):
        raise AddressError(text)


def _sampled_problems(source: str, tree: CommentedMap, rubric: Rubric, loc: tuple[Any, ...], value: Any,
                      validate: Callable[[Any], Any], *, samples: bool) -> list[str]:
    """Problems of ``value`` (``validate`` raises on a bad one); a template is rendered with samples that fit.

    The value is valid when any of the samples tried (:func:`_tries`) makes it valid. Otherwise the
    try with the fewest problems is said, with the sample values it used. ``samples=False``: a
    template is left to the roster's values (:func:`candidate_problems`).
    """
    used = _used_variables(value)
    templated = any("{" in text for _, text in _strings(value))
    if templated and not samples:
        return []
    best: tuple[int, Exception, Any, dict[str, str]] | None = None
    for chosen in _tries(rubric, used) if templated else [{}]:
        rendered: Any = value
        try:
            rendered = _render_value(value, _sample_variables(rubric, chosen)) if templated else value
            validate(rendered)
            return []
        except jinja2.TemplateError:
            return []  # an undefined variable, an unknown addr[] host: said by _template_problems
        except ValidationError as exc:
            count = exc.error_count()
            error: Exception = exc
        except Exception as exc:  # noqa: BLE001 - AddressError, or a template failing on values ({{ x | int + 'a' }})
            count, error = 1, exc
        if best is None or count < best[0]:
            best = (count, error, rendered, chosen)
    assert best is not None
    _, error, rendered, chosen = best
    shown = {**{n: v for n, v in _sample_variables(rubric, chosen).items() if n in used and n != "addr"}}
    note = t("rubric.with_samples", values=", ".join(f"{n}={v}" for n, v in sorted(shown.items()))) if shown else ""
    where = "{}:{}:{}".format(source, *_position(tree, loc))
    if isinstance(error, ValidationError):
        return _pydantic_problems(source, tree, error, prefix=loc, note=note)
    if isinstance(error, AddressError):
        return [f"{where}: " + t("rubric.bad_address", address=rendered, note=note)]
    return [f"{where}: " + t("rubric.template_fails", error=error)]


#: Built-in channels that do not read ``hosts[].port`` as their primary transport (those that have a
#: port of their own take it in ``options.<channel>.port``).
_NO_HOST_PORT = frozenset({"snmp", "smb", "http", "dns", "tls", "syslog", "dhcp"})


def _ignored_setting_problems(source: str, tree: CommentedMap, rubric: Rubric, catalogue: Mapping[str, type[Check]],
                              transports: Mapping[str, Any]) -> list[str]:
    """Settings that would be silently ignored: ``port:`` on a host whose transport does not read it, a
    check written for a device's dialect (``cli``) on a host whose ``options.cli.dialect`` is another."""
    problems: list[str] = []

    def at(*loc: Any) -> str:
        return "{}:{}:{}".format(source, *_position(tree, loc))

    for i, h in enumerate(rubric.hosts):
        if h.port is not None and h.transport in _NO_HOST_PORT:
            options = getattr(transports.get(h.transport), "Options", None)
            if options is not None and "port" in getattr(options, "model_fields", {}):
                how = t("rubric.how.port_option", transport=h.transport, port=h.port)
            else:
                how = t("rubric.how.remove_port")
            problems.append(f"{at('hosts', i, 'port')}: " + t("rubric.ignored_port", transport=h.transport, how=how))
    cli_options = getattr(transports.get("cli"), "Options", None)
    field = getattr(cli_options, "model_fields", {}).get("dialect")
    default_dialect = field.default if field is not None else None
    names = {h.name for h in rubric.hosts}
    for i, entry in enumerate(rubric.checks):
        cls = catalogue.get(entry.check)
        wanted = getattr(cls, "dialect", None)
        if cls is None or cls.transport != "cli" or not isinstance(wanted, str):
            continue
        if entry.host not in names and entry.role is None:
            continue  # an undeclared host: said elsewhere
        for h in rubric.targets(entry):
            if h.transport != "cli" and "cli" not in h.options:
                continue  # said by _transport_problems (channel not configured)
            dialect = (h.options.get("cli") or {}).get("dialect", default_dialect)
            if isinstance(dialect, str) and "{" not in dialect and dialect != wanted:
                problems.append(f"{at('checks', i, 'check')}: " + t("rubric.wrong_dialect", check=entry.check,
                                                                      wanted=wanted, host=h.name, dialect=dialect))
                break
    return problems


@dataclass(frozen=True)
class CandidateProblem:
    """What one candidate's values break in a rubric: where in the rubric, what, and the variables involved."""

    where: str  # file:line:col (field)
    what: str
    variables: tuple[str, ...]


def candidate_problems(rubric: Rubric, variables: Mapping[str, str]) -> list[CandidateProblem]:
    """Every templated value of the rubric rendered with one candidate's values and validated as
    :func:`load_rubric` validates it: host addresses, credentials, channel options, check parameters,
    hints. ``variables``: the candidate's roster values, ``candidat`` and ``nom`` included.

    Empty for a rubric not read by :func:`load_rubric` (nothing to locate the problems in).
    """
    tree, catalogue, transports = rubric._tree, rubric._catalogue, rubric._transports
    if tree is None:
        return []
    source = str(rubric.source)
    values: dict[str, Any] = {n: v.default for n, v in rubric.variables.items() if v.default is not None}
    values.update(variables)
    values.setdefault("candidat", "")
    values.setdefault("nom", "")
    problems: list[CandidateProblem] = []

    def at(loc: tuple[Any, ...]) -> str:
        return "{}:{}:{}".format(source, *_position(tree, loc))

    def check(loc: tuple[Any, ...], value: Any, validate: Callable[[Any], Any]) -> Any:
        """The value rendered for this candidate (None when it cannot be, the problem said)."""
        if not any("{" in text for _, text in _strings(value)):
            return value  # the same for every candidate: load_rubric checked it
        used = tuple(sorted(_used_variables(value) - {"addr"}))
        rendered: Any = None
        try:
            rendered = _render_value(value, values)
            validate(rendered)
            return rendered
        except ValidationError as exc:
            for line, col, field, what, _how in _pydantic_items(tree, exc, loc):
                problems.append(CandidateProblem(f"{source}:{line}:{col} ({field})", what, used))
        except AddressError:
            problems.append(CandidateProblem(f"{at(loc)} ({'.'.join(map(str, loc))})",
                                             t("rubric.what.bad_address", address=rendered), used))
        except Exception as exc:  # noqa: BLE001 - a template failing on these values
            problems.append(CandidateProblem(f"{at(loc)} ({'.'.join(map(str, loc))})",
                                             t("rubric.what.template_fails", error=exc), used))
        return None

    addresses: dict[str, str] = {}
    for i, h in enumerate(rubric.hosts):  # an address said wrong stands as a sample: said once, not in every addr[]
        addresses[h.name] = check(("hosts", i, "address"), h.address, check_address) or f"192.0.2.{i + 1}"
    for name, cred in rubric.credentials.items():
        check(("credentials", name), cred.model_dump(), Credential.model_validate)
    values["addr"] = addresses
    for i, h in enumerate(rubric.hosts):
        for name, options in h.options.items():
            channel = (transports or {}).get(name)
            if channel is not None:
                check(("hosts", i, "options", name), options, channel.Options.model_validate)
    for i, entry in enumerate(rubric.checks):
        cls = (catalogue or {}).get(entry.check)
        if cls is not None:
            check(("checks", i, "params"), entry.params, cls.Params.model_validate)
        check(("checks", i, "hint"), entry.hint, lambda _: None)
        check(("checks", i, "task"), entry.task, lambda _: None)
    return problems
