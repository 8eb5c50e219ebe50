"""The reference a rubric author writes from: each check's parameters, channel, usual criteria and example.

``grader checks show ID`` and ``grader checks list --json`` print what is here; the README's table
of channel options is compared with :func:`option_rows` by the tests, so neither can drift from the
models. Everything is read from the declarations (``Params``, ``ChannelSpec.Options``, the class
attributes): nothing here imports a connection library.

Types, allowed values and defaults come from the same JSON Schema as ``grader rubric schema``, so
what ``checks show`` says is what the editor checks. The criteria a check "usually serves" are its
``usually_serves`` attribute when it declares one, and the criteria the demo rubric maps it to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python
from ruamel.yaml import YAML

from grader import i18n
from grader.check import Check
from grader.i18n import N_, t
from grader.probes.channel import ChannelSpec

#: The platforms a host may have (``hosts[].platform``); a check may also say ``any``.
PLATFORMS = ("linux", "windows", "network")


# --- fields: type, allowed values, default ------------------------------------------------


def field_rows(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One row per field of a parameter or options model: name, type, allowed values, required, default."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    rows = []
    for name, field in model.model_fields.items():
        prop = schema.get("properties", {}).get(field.alias or name, {})
        kind, allowed = describe(prop, defs)
        required = field.is_required()
        default = None if required else to_jsonable_python(field.get_default(call_default_factory=True))
        rows.append({"name": field.alias or name, "type": kind, "allowed": allowed, "required": required,
                     "default": default, "schema": prop})
    return rows


_TYPE_KEYS = {"string": N_("ref.type.string"), "integer": N_("ref.type.integer"), "number": N_("ref.type.number"),
              "boolean": N_("ref.type.boolean"), "object": N_("ref.type.object"), "null": N_("ref.type.null")}


def describe(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> tuple[str, str]:
    """(type, allowed values) of a JSON Schema property, in words of the current language."""
    ref = prop.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1], {})
        return t("ref.type.object"), t("ref.fields", names=", ".join(target.get("properties", {})))
    alternatives = prop.get("anyOf") or prop.get("oneOf")
    if alternatives:
        parts = [describe(a, defs) for a in alternatives if a.get("type") != "null"]
        kinds = list(dict.fromkeys(kind for kind, _ in parts))
        allowed = list(dict.fromkeys(a for _, a in parts if a))
        return " | ".join(kinds) or t("ref.type.null"), " ; ".join(allowed)
    if "enum" in prop or "const" in prop:
        values = list(prop["enum"]) if "enum" in prop else [prop["const"]]
        value_kind = _json_type(values[0]) if values else "string"
        return t(_TYPE_KEYS[value_kind]), ", ".join(yaml_scalar(v) for v in values)
    kind = prop.get("type")
    if kind == "array":
        item, item_allowed = describe(prop.get("items", {}), defs)
        bounds = _bounds(prop)
        return t("ref.type.list", item=item), " ; ".join(x for x in (item_allowed, bounds) if x)
    if isinstance(kind, str) and kind in _TYPE_KEYS:
        return t(_TYPE_KEYS[kind]), _bounds(prop)
    return t("ref.type.any"), ""


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "null" if value is None else "object"


def _bounds(prop: Mapping[str, Any]) -> str:
    low = (f"≥ {prop['minimum']}" if "minimum" in prop else f"> {prop['exclusiveMinimum']}"
           if "exclusiveMinimum" in prop else "")
    high = (f"≤ {prop['maximum']}" if "maximum" in prop else f"< {prop['exclusiveMaximum']}"
            if "exclusiveMaximum" in prop else "")
    parts = [p for p in (low, high) if p]
    if "minLength" in prop:
        parts.append(t("ref.min_length", n=prop["minLength"]))
    if "maxLength" in prop:
        parts.append(t("ref.max_length", n=prop["maxLength"]))
    if "minItems" in prop:
        parts.append(t("ref.min_items", n=prop["minItems"]))
    if "pattern" in prop:
        parts.append(t("ref.pattern", pattern=prop["pattern"]))
    return ", ".join(parts)


_PLAIN = re.compile(r"^[A-Za-z0-9_/\\][A-Za-z0-9 _./@:+\\'-]*$")


def _plain(text: str) -> bool:
    """Whether ``text`` reads back as this very string when written unquoted in a flow or block value."""
    if not _PLAIN.match(text) or text != text.strip() or ": " in text or " #" in text:
        return False
    try:
        return bool(YAML(typ="safe").load(text) == text)
    except Exception:  # noqa: BLE001 - anything YAML would not read back as written is quoted
        return False


def yaml_scalar(value: Any) -> str:
    """A value as a rubric writes it (flow style for lists and tables)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value if _plain(value) else json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_scalar(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {yaml_scalar(v)}" for k, v in value.items()) + "}"
    return json.dumps(to_jsonable_python(value), ensure_ascii=False)


# --- example ---------------------------------------------------------------------------------

#: Sample text for a required parameter by its name (the rest: ``exemple``); a check whose validators
#: want more sets ``example``.
_SAMPLE_TEXT = (
    (("address", "server", "target", "witness", "agent", "peer_address", "source", "destination", "router",
      "start", "end", "range_start", "range_end", "host", "proxy", "next_hop", "value", "outside", "inside"),
     "192.0.2.10"),
    (("url", "allowed", "blocked"), "http://192.0.2.10/"),
    (("interface",), "eth1"),
    (("path", "status_file", "objects_file", "ca_file"), "/etc/exemple"),
    (("pattern",), "^exemple"),
    (("prefix",), "192.0.2.0/24"),
)

#: The role of the host a check's example targets, by the check's platform.
EXAMPLE_ROLES = {"linux": "serveur-linux", "windows": "serveur-windows", "network": "equipement-reseau",
                 "any": "serveur"}


def _sample(name: str, prop: Mapping[str, Any], defs: Mapping[str, Any]) -> Any:
    if "$ref" in prop:
        target = defs.get(str(prop["$ref"]).rsplit("/", 1)[-1], {})
        return {k: _sample(k, p, defs) for k, p in target.get("properties", {}).items()
                if k in target.get("required", [])}
    alternatives = [a for a in prop.get("anyOf", []) if a.get("type") != "null"]
    if alternatives:
        return _sample(name, alternatives[0], defs)
    if "enum" in prop:
        return prop["enum"][0]
    if "const" in prop:
        return prop["const"]
    kind = prop.get("type")
    if kind == "array":
        return [_sample(name.rstrip("s"), prop.get("items", {}), defs)] * max(1, int(prop.get("minItems", 1)))
    if kind in ("integer", "number"):
        low = prop.get("minimum", prop.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in prop else 1)
        if "port" in name and low <= 80 <= prop.get("maximum", 65535):
            low = 80
        return int(low) if kind == "integer" else float(low)
    if kind == "boolean":
        return True
    if kind == "object":
        return {}
    for names, text in _SAMPLE_TEXT:
        if name in names or any(name.endswith("_" + n) for n in names):
            return text
    return "exemple"


#: What the demo rubric's templates become in an example (its network is 192.168.1.0/24 there).
_EXAMPLE_VARIABLES = {"reseau": "192.168.1", "candidat": "01", "nom": "exemple"}


def example_params(cls: type[Check]) -> dict[str, Any]:
    """The parameters of ``cls``'s example: its ``example`` attribute, else its first use in the demo rubric
    (templates filled with plain values), else a sample of each required parameter."""
    if cls.example is not None:
        return dict(YAML(typ="safe").load(cls.example) or {})
    demo = demo_params().get(cls.id)
    if demo is not None:
        from grader.rubric import render, render_params

        hosts = [h for h in _demo_tree().get("hosts") or [] if isinstance(h, dict)]
        declared = _demo_tree().get("variables") or {}
        defaults = {str(k): str(v["default"]) for k, v in declared.items() if isinstance(v, dict) and "default" in v}
        values = {**defaults, **_EXAMPLE_VARIABLES}  # a variable the example does not set keeps its default
        addr = {str(h.get("name")): render(str(h.get("address", "")), values) for h in hosts}
        return render_params(demo, {**values, "addr": addr})
    schema = cls.Params.model_json_schema()
    defs = schema.get("$defs", {})
    return {name: _sample(name, schema["properties"][name], defs) for name in schema.get("required", [])}


def example_yaml(cls: type[Check]) -> str:
    """A ``checks:`` entry for ``cls`` as a rubric writes it: required parameters set, optional ones commented."""
    params = example_params(cls)
    criteria = usual_criteria(cls)
    lines = [f"- id: {cls.id.split('.', 1)[-1].replace('_', '-')}",
             f"  check: {cls.id}",
             f"  role: {EXAMPLE_ROLES.get(cls.platform, 'serveur')}"]
    rows = field_rows(cls.Params)
    if rows:
        lines.append("  params:" if params else "  params: {}")
        for row in rows:
            if row["name"] in params:
                lines.append(f"    {row['name']}: {yaml_scalar(params[row['name']])}")
            else:
                lines.append(f"    # {row['name']}: {yaml_scalar(row['default'])}")
    lines.append(f"  criterion: {criteria[0]['id'] if criteria else 'CP9.1'}")
    lines.append("  points: 1")
    return "\n".join(lines) + "\n"


# --- criteria ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _demo_tree() -> dict[str, Any]:
    """The demo rubric as plain data (read, not validated: ``load_rubric`` would check every host)."""
    from rubrics import demo_rubric

    tree = YAML(typ="safe").load(demo_rubric().read_text(encoding="utf-8"))
    return tree if isinstance(tree, dict) else {}


@lru_cache(maxsize=1)
def demo_usage() -> dict[str, dict[str, list[str]]]:
    """check id -> criterion -> the demo rubric's entries (ids) that map it there (read as YAML, not validated)."""
    usage: dict[str, dict[str, list[str]]] = {}
    for entry in _demo_tree().get("checks") or []:
        if isinstance(entry, dict) and isinstance(entry.get("check"), str) and isinstance(entry.get("criterion"), str):
            usage.setdefault(entry["check"], {}).setdefault(entry["criterion"], []).append(str(entry.get("id", "")))
    return usage


@lru_cache(maxsize=1)
def demo_params() -> dict[str, dict[str, Any]]:
    """check id -> the params of its first entry in the demo rubric."""
    found: dict[str, dict[str, Any]] = {}
    for entry in _demo_tree().get("checks") or []:
        if isinstance(entry, dict) and isinstance(entry.get("check"), str):
            found.setdefault(entry["check"], dict(entry.get("params") or {}))
    return found


def usual_criteria(cls: type[Check]) -> list[dict[str, Any]]:
    """The criteria ``cls`` usually serves, each with its RC text and where it comes from.

    ``source`` is ``declared`` (the check's ``usually_serves``) or ``demo`` (the demo rubric maps it there;
    ``entries`` names those entries). A criterion both declared and in the demo is said once, as declared.
    """
    from grader.referential import load_referential

    ref = load_referential()
    found: dict[str, dict[str, Any]] = {}
    for cid in cls.usually_serves:
        found.setdefault(cid, {"id": cid, "source": "declared", "entries": []})
    for cid, entries in demo_usage().get(cls.id, {}).items():
        found.setdefault(cid, {"id": cid, "source": "demo", "entries": entries})
    for item in found.values():
        try:
            item["text"] = ref.criterion(item["id"]).text
        except KeyError:
            item["text"] = ""
    return list(found.values())


# --- a check, a channel ------------------------------------------------------------------------


def channel_info(name: str, specs: Mapping[str, ChannelSpec]) -> dict[str, Any]:
    """What a check on channel ``name`` needs from its host, and the channel's options."""
    spec = specs.get(name)
    if spec is None:
        return {"name": name, "declared": False, "grader_side": False, "needs_credential": False, "options": []}
    return {"name": name, "declared": True, "grader_side": spec.grader_side, "needs_credential": spec.needs_credential,
            "options": [_public(r) for r in field_rows(spec.Options)]}


def _public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "schema"}


def check_info(cls: type[Check], specs: Mapping[str, ChannelSpec]) -> dict[str, Any]:
    """Everything ``checks show`` says of a check, as plain data (its ``--json``)."""
    from grader import i18n_checks

    return {
        "id": cls.id,
        "platform": cls.platform,
        "transport": cls.transport,
        "sentence": i18n_checks.template(cls.sentence_template(), i18n.get_lang()) if cls.__doc__ else "",
        "params": [{**_public(r), "schema": r["schema"]} for r in field_rows(cls.Params)],
        "channel": channel_info(cls.transport, specs),
        "dialect": getattr(cls, "dialect", None),  # a cli check's device dialect (load_rubric checks the host's)
        "criteria": usual_criteria(cls),
        "example": example_yaml(cls),
    }


def check_summary(cls: type[Check]) -> dict[str, Any]:
    """A row of ``checks list --json``."""
    from grader import i18n_checks

    return {
        "id": cls.id,
        "platform": cls.platform,
        "transport": cls.transport,
        "params": [{"name": name, "required": f.is_required()} for name, f in cls.Params.model_fields.items()],
        "sentence": i18n_checks.template(cls.sentence_template(), i18n.get_lang()) if cls.__doc__ else "",
    }


def option_rows(specs: Mapping[str, ChannelSpec]) -> list[tuple[str, str, str, str, str]]:
    """(channel, option, type, allowed values, default) of every channel option, as the README's table has them."""
    rows = []
    for name in sorted(specs):
        for row in field_rows(specs[name].Options):
            rows.append((name, row["name"], row["type"], row["allowed"], yaml_scalar(row["default"])))
    return rows
