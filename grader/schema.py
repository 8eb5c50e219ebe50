"""The rubric's JSON Schema as an editor needs it: ``params`` typed per ``check:``, ``options`` per channel.

:class:`grader.rubric.Rubric` types ``checks[].params`` and ``hosts[].options`` as free tables, because
it is validated against the installed plugins afterwards (``load_rubric``). An editor has no second
pass: here each check entry is a branch of a union discriminated by ``check`` (its ``params`` is that
check's ``Params`` model) and each channel's ``options`` is its ``Options`` model, built from the
catalogue and the channel declarations, so VS Code's YAML extension completes and flags them.

A parameter or option that is not text may still be a ``{{ … }}`` template filled per candidate
(``port: "{{ port }}"``): the schema accepts a template string wherever it wants a number, a boolean, one
of a list of values or a text of some length or pattern.
Nothing here imports a connection library.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, TypeAdapter, create_model

from grader.check import Check
from grader.i18n import t
from grader.probes.channel import ChannelSpec
from grader.rubric import CheckEntry, Host, Rubric

#: What a template looks like where the schema would otherwise want a number or a boolean.
TEMPLATE = {"type": "string", "pattern": r"\{\{.*\}\}"}
_STRING_CONSTRAINTS = {"minLength", "maxLength", "pattern", "format"}


def _model_name(prefix: str, ident: str) -> str:
    return prefix + "".join(part.capitalize() for part in ident.replace("-", "_").replace(".", "_").split("_"))


def check_entry_model(cls: type[Check]) -> type[CheckEntry]:
    """A ``checks[]`` entry for this check: ``check`` is its id, ``params`` its parameter model."""
    required = any(f.is_required() for f in cls.Params.model_fields.values())
    params: Any = (cls.Params, ...) if required else (cls.Params, Field(default_factory=dict))
    check: Any = (Literal[cls.id], ...)
    model = create_model(_model_name("Check_", cls.id), __base__=CheckEntry, check=check, params=params)
    model.__doc__ = cls.sentence_template()
    return model


def options_model(specs: Mapping[str, ChannelSpec]) -> type[Any]:
    """``hosts[].options``: one optional entry per channel, each its channel's ``Options`` model."""
    fields: dict[str, Any] = {name: (spec.Options, None) for name, spec in sorted(specs.items())}
    return create_model("HostOptions", __config__=ConfigDict(extra="forbid"), **fields)


def editor_rubric_model(catalogue: Mapping[str, type[Check]], specs: Mapping[str, ChannelSpec]) -> type[Rubric]:
    """The rubric model with ``params`` and ``options`` typed (for the schema only: validation is ``load_rubric``)."""
    entries = tuple(check_entry_model(cls) for cls in catalogue.values())
    entry: Any = Annotated[Union[entries], Field(discriminator="check")] if entries else CheckEntry  # noqa: UP007
    options = options_model(specs)
    host: Any = create_model("Host", __base__=Host, options=(options, Field(default_factory=dict)))
    host.__doc__ = Host.__doc__
    model = create_model("Rubric", __base__=Rubric, hosts=(list[host], ...), checks=(list[entry], ...))
    return model


def _templatable(node: Any) -> Any:
    """The schema with a ``{{ … }}`` string accepted beside every number and boolean (recursively)."""
    if isinstance(node, list):
        return [_templatable(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _templatable(v) for k, v in node.items()}
    constrained = out.get("type") == "string" and bool(_STRING_CONSTRAINTS & set(out))
    if out.get("type") in ("integer", "number", "boolean") or constrained or "enum" in out:
        keep = {k: v for k, v in out.items() if k in ("title", "description", "default")}
        typed = {k: v for k, v in out.items() if k not in keep}
        return {**keep, "anyOf": [typed, TEMPLATE]}
    return out


def rubric_json_schema(catalogue: Mapping[str, type[Check]] | None = None,
                       specs: Mapping[str, ChannelSpec] | None = None) -> dict[str, Any]:
    """JSON Schema of a rubric for editors, with every installed check's ``params`` and channel's ``options``."""
    if catalogue is None:
        from grader.plugins import default_catalogue

        catalogue = default_catalogue()
    if specs is None:
        from grader.plugins import default_channel_specs

        specs = default_channel_specs()
    schema = TypeAdapter(editor_rubric_model(catalogue, specs)).json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    # Each check's parameter model is "Params": name it after its check (pydantic qualifies it by module).
    renamed: dict[str, str] = {}
    for cls in catalogue.values():
        entry = defs[_model_name("Check_", cls.id)]
        params = entry["properties"]["params"]
        ref = params.get("$ref", "").rsplit("/", 1)[-1]
        if ref in defs:
            new = _model_name("Params_", cls.id)
            renamed[ref] = new
            defs[ref].update(title=f"{cls.id} params", description=cls.sentence_template())
    if renamed:
        text = json.dumps(schema)
        for old, new in renamed.items():
            text = text.replace(f'"#/$defs/{old}"', f'"#/$defs/{new}"')
        schema = json.loads(text)
        defs = schema["$defs"]
        for old, new in renamed.items():
            defs[new] = defs.pop(old)
    # What a trainer writes by hand in params and options may be a template where a number is wanted.
    roots = [n for n in defs if n.startswith("Params_")] + _refs(defs.get("HostOptions", {}))
    for name in _closure(defs, roots):
        defs[name] = _templatable(defs[name])
    for name in list(defs):
        if name.startswith("Check_"):
            defs[name]["properties"]["params"] = _templatable(defs[name]["properties"]["params"])
    schema["$defs"] = dict(sorted(defs.items()))
    schema["title"] = t("rubric.schema_title")
    return schema


def _closure(defs: Mapping[str, Any], roots: list[str]) -> set[str]:
    """The models named and those they reach (nested tables: SNMP credential sets, DHCP reservations...)."""
    found: set[str] = set()
    todo = [r for r in roots if r in defs]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        todo += [r for r in _refs(defs[name]) if r in defs and r not in found]
    return found


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"].rsplit("/", 1)[-1]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []
