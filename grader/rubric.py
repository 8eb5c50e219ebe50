"""Rubrics (exam scenarios, YAML) and their validation, with every problem located at once.

A trainer writes a rubric; a mistake must cost them one read of one message list, not a
cycle of fix-one-rerun. So loading never stops at the first error: pydantic's errors, unknown
check plugins and criteria, parameter models, template variables and cross references are
all collected, each as ``file:line:column: what is wrong — how to fix it``.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import jinja2
import jinja2.meta
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
    default: str | None = None


class Host(_Strict):
    name: str = Field(pattern=SLUG)
    role: str = Field(min_length=1)
    platform: Literal["linux", "windows", "network"]
    address: str = Field(min_length=1)
    transport: str = Field(default="ssh", min_length=1)  # the primary channel: its failure is "injoignable"
    port: int | None = Field(default=None, ge=1, le=65535)  # None: the transport's usual port
    credential: str | None = None
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)  # per-channel settings, by channel name
    sudo: bool = False
    connect_timeout: float = Field(default=5.0, gt=0)
    #: The longest the grader spends on this host, every channel and stage included (seconds); past it
    #: the host's sessions are closed and what did not come is erreur. Default: see runner.HostJob.budget.
    budget: float | None = Field(default=None, gt=0, le=3600)


class CheckEntry(_Strict):
    id: str = Field(pattern=SLUG)
    check: str
    host: str | None = None
    role: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    criterion: str
    points: float = Field(default=1.0, ge=0)
    hint: str = ""
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


def _pydantic_problems(source: str, tree: Any, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> list[str]:
    problems = []
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
        problems.append(f"{source}:{line}:{col}: " + t("rubric.field_problem", field=field, what=what, how=how))
    return problems


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    return t("hint.did_you_mean", names=", ".join(close)) if close else t("rubric.see_checks_list")


def load_rubric(path: Path, catalogue: Mapping[str, type[Check]] | None = None,
                criterion_ids: set[str] | None = None, transports: Mapping[str, Any] | None = None) -> Rubric:
    """Load and fully validate a rubric, or raise :class:`RubricError` with every problem."""
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
        raise RubricError(problems) from exc
    problems = _semantic_problems(source, tree, rubric, catalogue, criterion_ids)
    problems += _transport_problems(source, tree, rubric, catalogue, transports)
    if problems:
        raise RubricError(problems)
    rubric._source = path
    rubric._text = text
    rubric._warnings = _shared_secret_warnings(source, tree, rubric)
    return rubric


#: Channels that send the credential's password itself, or a proof a hostile server can replay or crack.
_PASSWORD_CHANNELS = ("ssh", "cli", "winrm", "ldap", "smb", "snmp")


def _shared_secret_warnings(source: str, tree: CommentedMap, rubric: Rubric) -> list[str]:
    """One warning per password credential that every candidate's machines would receive alike."""
    warnings = []
    for name, cred in rubric.credentials.items():
        if not cred.password_based or cred.per_candidate():
            continue
        users = sorted({h.name for h in rubric.hosts if _uses_credential(h, name)})
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
    """(location, name) of each credential an option names (``credential``, ``*_credential``), at any depth."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(v, str) and isinstance(k, str) and (k == "credential" or k.endswith("_credential")):
                yield path + (k,), v
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
                       catalogue: Mapping[str, type[Check]], criterion_ids: set[str]) -> list[str]:
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
        problems += _template_problems(at('hosts', i, 'address'), h.address, rubric, with_addr=False)
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
        templated = False
        for name, value in _strings(entry.params):
            problems += _template_problems(at('checks', i, 'params', *name), value, rubric, with_addr=True)
            templated = templated or "{" in value
        # Validate parameter types with a neutral rendering of templates.
        try:
            sample = render_params(entry.params, _sample_variables(rubric)) if templated else entry.params
            cls.Params.model_validate(sample)
        except ValidationError as exc:
            problems += _pydantic_problems(source, tree, exc, prefix=("checks", i, "params"))
        except jinja2.TemplateError:
            pass  # already reported by _template_problems
        except Exception as exc:  # noqa: BLE001 - a template that fails on values ({{ x | int + 'a' }})
            problems.append(f"{at('checks', i, 'params')}: " + t("rubric.template_fails", error=exc))
    return problems


def _transport_problems(source: str, tree: CommentedMap, rubric: Rubric, catalogue: Mapping[str, type[Check]],
                        transports: Mapping[str, Any]) -> list[str]:
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
        for name, values in h.options.items():
            option_channel = transports.get(name)
            if option_channel is None:
                problems.append(f"{at('hosts', i, 'options', name)}: "
                                + t("rubric.options_unknown_transport", transport=name, known=known))
                continue
            templated = False
            for loc, value in _strings(values):  # options may differ per candidate, like params
                problems += _template_problems(at('hosts', i, 'options', name, *loc), value, rubric, with_addr=True)
                templated = templated or "{" in value
            try:
                option_channel.Options.model_validate(
                    render_params(values, _sample_variables(rubric)) if templated else values)
            except ValidationError as exc:
                problems += _pydantic_problems(source, tree, exc, prefix=("hosts", i, "options", name))
                continue
            except jinja2.TemplateError:
                continue  # already reported by _template_problems
            except Exception as exc:  # noqa: BLE001 - a template that fails on values
                problems.append(f"{at('hosts', i, 'options', name)}: " + t("rubric.template_fails", error=exc))
                continue
            # valid: the credentials it names (at any depth: snmp's credential sets) must be declared
            for loc, value in _option_credentials(values):
                if "{" in value:
                    continue  # named per candidate: checked when the run resolves it (CredentialError, located)
                if value not in rubric.credentials:
                    problems.append(f"{at('hosts', i, 'options', name, *loc)}: "
                                    + t("rubric.undeclared_option_credential", credential=value))
    for i, entry in enumerate(rubric.checks):
        cls = catalogue.get(entry.check)
        if cls is None:
            continue
        channel = transports.get(cls.transport)
        if channel is None or getattr(channel, "grader_side", False):
            continue
        for h in rubric.targets(entry) if (entry.host in {x.name for x in rubric.hosts} or entry.role) else []:
            if cls.transport != h.transport and cls.transport not in h.options:
                problems.append(f"{at('checks', i, 'check')}: " + t("rubric.channel_not_configured", check=entry.check,
                                                                      transport=cls.transport, host=h.name,
                                                                      host_transport=h.transport))
    return problems


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
        used = template_variables(text)
    except jinja2.TemplateSyntaxError as exc:
        return [f"{where}: " + t("rubric.bad_template", error=exc.message)]
    known = set(rubric.variables) | BUILTIN_VARIABLES
    if not with_addr:
        known.discard("addr")
    return [f"{where}: " + t("rubric.undefined_variable", name=name, known=", ".join(sorted(known)))
            for name in sorted(used - known)]


def _sample_variables(rubric: Rubric) -> dict[str, Any]:
    """Neutral values to type-check templated parameters before any roster exists."""
    sample: dict[str, Any] = {name: v.default or "1" for name, v in rubric.variables.items()}
    sample.update(candidat="01", nom="exemple", addr=defaultdict(lambda: "192.0.2.1"))
    return sample


def rubric_json_schema() -> dict[str, Any]:
    """JSON Schema for editors (VS Code's YAML extension reads it)."""
    schema = Rubric.model_json_schema()
    schema["title"] = t("rubric.schema_title")
    return schema
