"""The official Référentiel de certification (RC) of the title TSSR, as typed, frozen data.

A grade is only defensible if every piece of evidence points at a criterion the jury itself
uses. So the blocks, competences, evaluation criteria and modalities live in one YAML file
(``rubrics/referential/tssr-rc.yaml``) copied verbatim from the RC tables of the title
(RNCP37454, TP-01351), and every rubric entry must name one of its criterion ids (``CP8.2``,
``CCS5.1``...). Nothing here is invented or paraphrased: if the RC gives no criterion for a
competence (``CCS3`` "Superviser les serveurs Linux"), the competence keeps zero criteria and
says so in its ``note`` rather than borrowing one; evidence then attaches to the competence
itself (a rubric check says ``criterion: CCS3``; see :meth:`Referential.evidence_ids`).

Modalities are kept as the RC writes them, twice: each competence's ``modalities`` is its row of
§3.2 (access to the title), and each block's ``session`` is that certificate's own session table,
which differs from §3.2 for some competences (CCP1 evaluates CP4 in the mise en situation).
:meth:`Referential.modalities_of` gives one or the other. The three compétences transversales
(RC §3.3) and the competences they are evaluated through are ``transversals``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from ruamel.yaml import YAML

from grader.i18n import N_, t

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "rubrics" / "referential" / "tssr-rc.yaml"

_KEY = r"^[a-z][a-z0-9_]*$"
_COMPETENCE_CODE = r"^(CP|CCS)[1-9][0-9]*$"
_CRITERION_ID = r"^(CP|CCS)[1-9][0-9]*\.[1-9][0-9]*$"

#: The certificates' sessions a rubric may name (``session: ccp1``): each block's code in lower case.
SessionKey = Literal["ccp1", "ccp2", "ccp3", "ccs"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Modality(_Frozen):
    """One way the jury evaluates a competence (a column of the RC table)."""

    key: str = Field(pattern=_KEY)
    label: str = Field(min_length=1)


class Source(_Frozen):
    """Where the data was copied from (file name of the seed document and its sections)."""

    file: str = Field(min_length=1)
    sections: tuple[str, ...] = Field(min_length=1)


class Criterion(_Frozen):
    """An evaluation criterion, its text exactly as written in the RC."""

    id: str = Field(pattern=_CRITERION_ID)
    text: str = Field(min_length=1)


class Competence(_Frozen):
    code: str = Field(pattern=_COMPETENCE_CODE)
    title: str = Field(min_length=1)
    modalities: tuple[str, ...] = Field(min_length=1)  # Modality keys, in the RC column order
    criteria: tuple[Criterion, ...] = ()
    note: str | None = None

    @model_validator(mode="after")
    def _ids_follow_code(self) -> Competence:
        expected = [f"{self.code}.{n}" for n in range(1, len(self.criteria) + 1)]
        actual = [c.id for c in self.criteria]
        if actual != expected:
            raise ValueError(t("ref.criterion_ids", code=self.code, actual=actual, expected=expected))
        if not self.criteria and not self.note:
            raise ValueError(t("ref.no_criteria", code=self.code))
        if len(set(self.modalities)) != len(self.modalities):
            raise ValueError(t("ref.repeated_modality", code=self.code, modalities=list(self.modalities)))
        return self


class SessionRow(_Frozen):
    """One row of a certificate's session table: a modality and the competences it evaluates there."""

    modality: str = Field(pattern=_KEY)
    competences: tuple[str, ...] = Field(min_length=1)  # competence codes, in the RC's order


class Block(_Frozen):
    """A certificate block: one of the three CCP of the title, or the CCS."""

    code: str = Field(pattern=r"^(CCP[1-9]|CCS)$")
    title: str = Field(min_length=1)
    #: The certificate's own session table, « Sans objet » modalities left out (empty: none given).
    session: tuple[SessionRow, ...] = ()
    competences: tuple[Competence, ...] = Field(min_length=1)

    @field_validator("session", mode="before")
    @classmethod
    def _session_from_mapping(cls, value: Any) -> Any:
        # In the YAML: ``modality_key: [CP3, CP4]``, in column order.
        if isinstance(value, Mapping):
            return [{"modality": k, "competences": v} for k, v in value.items()]
        return value

    @property
    def session_key(self) -> str:
        """How a rubric names this certificate's session (``ccp1``, ``ccs``)."""
        return self.code.lower()

    def session_modalities(self, code: str) -> tuple[str, ...]:
        """The modalities evaluating competence ``code`` in this certificate's session, in column order."""
        return tuple(row.modality for row in self.session if code in row.competences)


class Transversal(_Frozen):
    """A compétence transversale (RC §3.3), evaluated through professional competences."""

    code: str = Field(pattern=r"^CT[1-9]$")  # the project's numbering, in the RC's order
    title: str = Field(min_length=1)
    description: tuple[str, ...] = Field(min_length=1)  # the RP fiche's paragraphs, verbatim
    competences: tuple[str, ...] = Field(min_length=1)  # competence codes, in the RC's order


class Referential(_Frozen):
    title: str = Field(min_length=1)
    rncp: str = Field(pattern=r"^RNCP[0-9]+$")
    code: str = Field(pattern=r"^TP-[0-9]+$")
    source: Source
    modalities: tuple[Modality, ...] = Field(min_length=1)
    blocks: tuple[Block, ...] = Field(min_length=1)
    transversals: tuple[Transversal, ...] = ()

    _competences: dict[str, Competence] = PrivateAttr(default_factory=dict)
    _criteria: dict[str, Criterion] = PrivateAttr(default_factory=dict)
    _owner: dict[str, Competence] = PrivateAttr(default_factory=dict)

    @field_validator("modalities", mode="before")
    @classmethod
    def _modalities_from_mapping(cls, value: Any) -> Any:
        # In the YAML: ``key: "French label"``, in column order.
        if isinstance(value, Mapping):
            return [{"key": k, "label": v} for k, v in value.items()]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Referential:
        keys = [m.key for m in self.modalities]
        if len(set(keys)) != len(keys):
            raise ValueError(t("ref.repeated_modality_key", keys=keys))
        seen_blocks: set[str] = set()
        seen: set[str] = set()
        for block in self.blocks:
            if block.code in seen_blocks:
                raise ValueError(t("ref.repeated_block", code=block.code))
            seen_blocks.add(block.code)
            for comp in block.competences:
                if comp.code in seen:
                    raise ValueError(t("ref.repeated_competence", code=comp.code))
                seen.add(comp.code)
                if block.code == "CCS" and not comp.code.startswith("CCS"):
                    raise ValueError(t("ref.ccs_only", code=comp.code))
                if block.code != "CCS" and not comp.code.startswith("CP"):
                    raise ValueError(t("ref.cp_only", code=comp.code))
                unknown = [m for m in comp.modalities if m not in keys]
                if unknown:
                    raise ValueError(t("ref.unknown_modality_in", code=comp.code, unknown=unknown, keys=keys))
                order = [keys.index(m) for m in comp.modalities]
                if order != sorted(order):
                    raise ValueError(t("ref.modality_order", code=comp.code))
            self._check_session(block, keys)
        self._check_transversals(seen)
        return self

    @staticmethod
    def _check_session(block: Block, keys: list[str]) -> None:
        if not block.session:
            return
        mine = [c.code for c in block.competences]
        rows = [row.modality for row in block.session]
        unknown = [m for m in rows if m not in keys]
        if unknown:
            raise ValueError(t("ref.unknown_modality_in", code=block.code, unknown=unknown, keys=keys))
        if len(set(rows)) != len(rows) or [keys.index(m) for m in rows] != sorted(keys.index(m) for m in rows):
            raise ValueError(t("ref.modality_order", code=block.code))
        for row in block.session:
            strangers = [c for c in row.competences if c not in mine]
            if strangers or len(set(row.competences)) != len(row.competences):
                raise ValueError(t("ref.session_competences", block=block.code, modality=row.modality,
                                   codes=list(row.competences), known=mine))
        evaluated = {c for row in block.session for c in row.competences}
        missing = [c for c in mine if c not in evaluated]
        if missing:
            raise ValueError(t("ref.session_missing", block=block.code, codes=missing))

    def _check_transversals(self, competences: set[str]) -> None:
        codes = [tr.code for tr in self.transversals]
        if len(set(codes)) != len(codes):
            raise ValueError(t("ref.repeated_transversal", codes=codes))
        for tr in self.transversals:
            unknown = [c for c in tr.competences if c not in competences]
            if unknown or len(set(tr.competences)) != len(tr.competences):
                raise ValueError(t("ref.transversal_competences", code=tr.code, codes=list(tr.competences),
                                   unknown=unknown))

    def model_post_init(self, context: Any, /) -> None:
        for comp in self.competences():
            self._competences[comp.code] = comp
            for crit in comp.criteria:
                self._criteria[crit.id] = crit
                self._owner[crit.id] = comp

    # -- lookups ---------------------------------------------------------------------------

    def competences(self) -> Iterator[Competence]:
        """Every competence, CP1..CP15 then CCS1..CCS5."""
        for block in self.blocks:
            yield from block.competences

    def all_criteria(self) -> list[Criterion]:
        """Every criterion, in RC order."""
        return [crit for comp in self.competences() for crit in comp.criteria]

    def criterion_ids(self) -> set[str]:
        return set(self._criteria)

    def evidence_ids(self) -> list[str]:
        """Every id a rubric check may name as its ``criterion``, in RC order.

        The criterion ids, and in place of criteria the code of each competence the RC gives none
        (``CCS3``): its evidence attaches to the competence itself. A competence that has
        criteria is never a target: its evidence names one of them.
        """
        return [i for comp in self.competences() for i in ([c.id for c in comp.criteria] or [comp.code])]

    def criterion(self, criterion_id: str) -> Criterion:
        """The criterion ``CP8.2``-style id names; :class:`KeyError` if the RC has none."""
        try:
            return self._criteria[criterion_id]
        except KeyError:
            raise KeyError(_unknown(N_("ref.unknown_criterion"), criterion_id, self._criteria)) from None

    def competence(self, code: str) -> Competence:
        """The competence ``CP9`` / ``CCS5``-style code names; :class:`KeyError` if unknown."""
        try:
            return self._competences[code]
        except KeyError:
            raise KeyError(_unknown(N_("ref.unknown_competence"), code, self._competences)) from None

    def competence_of(self, criterion_id: str) -> Competence:
        """The competence a criterion belongs to; :class:`KeyError` if the criterion is unknown.

        A competence without criteria (``CCS3``) is its own: evidence attaches to it directly.
        """
        try:
            return self._owner[criterion_id]
        except KeyError:
            comp = self._competences.get(criterion_id)
            if comp is not None and not comp.criteria:
                return comp
            raise KeyError(_unknown(N_("ref.unknown_criterion"), criterion_id, self._criteria)) from None

    def block_of(self, code: str) -> Block:
        """The block holding a competence (``CP9``) or a criterion (``CP9.1``)."""
        comp = self.competence_of(code) if "." in code else self.competence(code)
        return next(b for b in self.blocks if comp in b.competences)

    def sessions(self) -> list[str]:
        """The keys of the certificates' sessions the RC gives a table for (``ccp1``... ``ccs``)."""
        return [b.session_key for b in self.blocks if b.session]

    def session_block(self, key: str) -> Block:
        """The block whose session ``key`` names; :class:`KeyError` if none."""
        for block in self.blocks:
            if block.session and block.session_key == key:
                return block
        raise KeyError(_unknown(N_("ref.unknown_session"), key, self.sessions()))

    def modalities_of(self, code: str, session: str | None = None) -> tuple[str, ...]:
        """The modality keys evaluating competence ``code``: in ``session``'s own table when given
        and the competence is one of that certificate's, §3.2's (the competence's) otherwise."""
        comp = self.competence(code)
        if session is not None:
            block = self.session_block(session)
            if comp in block.competences:
                return block.session_modalities(code)
        return comp.modalities

    def transversal(self, code: str) -> Transversal:
        """The compétence transversale ``CT1``-style code names; :class:`KeyError` if unknown."""
        for tr in self.transversals:
            if tr.code == code:
                return tr
        raise KeyError(_unknown(N_("ref.unknown_transversal"), code, [tr.code for tr in self.transversals]))

    def transversals_of(self, code: str) -> tuple[Transversal, ...]:
        """The compétences transversales evaluated through competence ``code`` (RC §3.3), in order."""
        return tuple(tr for tr in self.transversals if code in tr.competences)

    def modality(self, key: str) -> Modality:
        for m in self.modalities:
            if m.key == key:
                return m
        raise KeyError(_unknown(N_("ref.unknown_modality"), key, [m.key for m in self.modalities]))


def _unknown(key: str, name: str, known: Any) -> str:
    """``key``'s message about ``name``, with the near spellings among ``known`` when there are some."""
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.6)
    text = t(key, name=name)
    return f"{text} — {t('hint.did_you_mean', names=', '.join(close))}" if close else text


def _read(path: Path) -> Referential:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return Referential.model_validate(data)


@lru_cache(maxsize=1)
def _default() -> Referential:
    return _read(DEFAULT_PATH)


def load_referential(path: Path | None = None) -> Referential:
    """Load the RC; without ``path``, the project's own (read once, then cached)."""
    if path is None:
        return _default()
    return _read(Path(path))


__all__ = [
    "DEFAULT_PATH", "Block", "Competence", "Criterion", "Modality", "Referential", "SessionKey", "SessionRow",
    "Source", "Transversal", "load_referential",
]
