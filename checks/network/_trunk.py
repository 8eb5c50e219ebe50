"""The judgement of an 802.1Q trunk, whatever read it: IOS's ``show interfaces switchport`` or CISCO-VTP-MIB.

One place, so that the CLI and SNMP checks ask the same questions of a trunk and answer them alike:
is the port trunking now (its operational mode, not its configured one), is its native VLAN the
expected one, does it carry every expected VLAN, and — with ``only`` — none besides (a trunk left
at IOS's default, every VLAN, is the classic mistake).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, field_validator

from checks._common.text import commas
from grader.check import CheckParams
from grader.model import Msg, Verdict

ALL_VLANS = frozenset(range(1, 4095))


class TrunkParams(CheckParams):
    interface: str = Field(min_length=1)
    allowed: list[int] = Field(default_factory=list)
    native: int | None = Field(default=None, ge=1, le=4094)
    only: bool = False

    @field_validator("allowed")
    @classmethod
    def _ids(cls, value: list[int]) -> list[int]:
        bad = [v for v in value if not 1 <= v <= 4094]
        if bad:
            raise ValueError(f"identifiant de VLAN hors de 1-4094 : {bad}")
        return value


@dataclass(frozen=True)
class Trunk:
    interface: str
    trunking: bool
    native: int | None
    allowed: frozenset[int]


def ranges(vlans: set[int] | frozenset[int]) -> str:
    """``1-4,10,20-22`` as IOS prints a VLAN list."""
    out, ordered = [], sorted(vlans)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def parse_ranges(items: list[str]) -> frozenset[int]:
    """IOS's VLAN list (``ALL``, ``NONE``, ``1-4,10``), as items or one text; ValueError otherwise."""
    vlans: set[int] = set()
    for item in ",".join(items).replace(" ", "").split(","):
        if not item or item.upper() == "NONE":
            continue
        if item.upper() == "ALL":
            return ALL_VLANS
        low, _, high = item.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(Msg("liste de VLAN illisible : {item}", item=item))
        vlans.update(range(int(low), int(high or low) + 1))
    return frozenset(v for v in vlans if 1 <= v <= 4094)


def expected_trunk(params: TrunkParams) -> Msg:
    parts: list[str | Msg] = [Msg("trunk sur {interface}", interface=params.interface)]
    if params.native is not None:
        parts.append(Msg("VLAN natif {vlan}", vlan=params.native))
    if params.allowed:
        parts.append(Msg("VLAN autorisés {vlans}{only}", vlans=ranges(set(params.allowed)),
                         only=Msg(" (et eux seuls)") if params.only else ""))
    return commas(parts)  # type: ignore[return-value]  # the first part is always words of ours: a Msg


def judge_trunk(trunk: Trunk, params: TrunkParams) -> Verdict:
    expected = expected_trunk(params)
    observed = Msg("{interface} : {state}, VLAN natif {native}, VLAN autorisés {vlans}", interface=trunk.interface,
                   state=Msg("en trunk") if trunk.trunking else Msg("pas en trunk"),
                   native=str(trunk.native) if trunk.native is not None else "?",
                   vlans=ranges(trunk.allowed) or Msg("aucun"))
    if not trunk.trunking:
        return Verdict.non_conforme(observed, expected, Msg("Le port {interface} n'est pas en trunk.",
                                                            interface=trunk.interface))
    if params.native is not None and trunk.native != params.native:
        return Verdict.non_conforme(observed, expected, Msg("Le VLAN natif de {interface} n'est pas {vlan}.",
                                                            interface=trunk.interface, vlan=params.native))
    missing = set(params.allowed) - trunk.allowed
    if missing:
        return Verdict.non_conforme(observed, expected, Msg("VLAN non autorisés sur le trunk : {vlans}.",
                                                            vlans=ranges(missing)))
    extra = trunk.allowed - set(params.allowed) - ({params.native} if params.native else set())
    if params.only and extra:
        return Verdict.non_conforme(observed, expected, Msg("Le trunk laisse aussi passer {vlans}.",
                                                            vlans=ranges(extra)))
    return Verdict.conforme(observed, expected, Msg("Le trunk {interface} est configuré comme attendu.",
                                                    interface=trunk.interface))
