"""An 802.1Q trunk of a Cisco switch read over SNMP (CISCO-VTP-MIB): trunking, native VLAN, allowed VLANs.

``vlanTrunkPortTable`` (1.3.6.1.4.1.9.9.46.1.6.1.1), indexed by ifIndex: ``vlanTrunkPortDynamicStatus``
(.14: 1 trunking, 2 notTrunking — what the port does now, whatever its mode says),
``vlanTrunkPortNativeVlan`` (.5) and the allowed VLANs as four bitmaps of 128 octets,
``vlanTrunkPortVlansEnabled`` (.4, VLANs 0-1023), ``…2k`` (.17), ``…3k`` (.18), ``…4k`` (.19). Per
the MIB's DESCRIPTION, the first octet holds VLANs 0 to 7 and the most significant bit of an
octet is its lowest VLAN. The port is found by its ifName/ifDescr (``Gi0/1`` or
``GigabitEthernet0/1``).
"""

from __future__ import annotations

from collections.abc import Mapping

from checks.network._snmp import IF_DESCR, IF_NAME
from checks.network._trunk import Trunk, TrunkParams, expected_trunk, judge_trunk
from checks.network.ios_config import short_name
from checks.network.snmp import _read
from grader.check import Check
from grader.model import Msg, Probe, ProbeResult, Verdict
from grader.probes.snmp import VarBind, column, snmp

TRUNK = "1.3.6.1.4.1.9.9.46.1.6.1.1"
NATIVE, STATUS = f"{TRUNK}.5", f"{TRUNK}.14"
ENABLED = (f"{TRUNK}.4", f"{TRUNK}.17", f"{TRUNK}.18", f"{TRUNK}.19")  # VLANs 0-1023, 1024-2047, 2048-3071, 3072-4095
TRUNK_WALK = f"walk {IF_NAME} {IF_DESCR} {STATUS} {NATIVE} {' '.join(ENABLED)}"


def bitmap_bytes(vb: VarBind) -> bytes:
    """The octets of a bitmap varbind (``Hex-STRING: 7F FF``; a bitmap whose octets happen to read as text
    was written ``STRING`` by the channel with its trailing NULs dropped, which are zeros anyway)."""
    if vb.type == "Hex-STRING":
        return bytes.fromhex(vb.text().replace(" ", ""))
    return vb.text().encode("utf-8")


def vlans_of(blocks: list[bytes]) -> set[int]:
    """The VLANs set in the four bitmaps (block k holds VLANs 1024k to 1024k+1023, MSB first)."""
    vlans = set()
    for k, octets in enumerate(blocks):
        for i, octet in enumerate(octets):
            for bit in range(8):
                if octet & (0x80 >> bit):
                    vlans.add(1024 * k + 8 * i + bit)
    return {v for v in vlans if 1 <= v <= 4094}


class SnmpTrunk(Check):
    """Le port {interface} du commutateur est un trunk 802.1Q qui laisse passer les VLAN attendus.

    One GETBULK walk (ifName, ifDescr and CISCO-VTP-MIB's vlanTrunkPortTable). Conforme when the
    port ``interface`` is trunking now (vlanTrunkPortDynamicStatus), its native VLAN is ``native``
    (when given) and every VLAN of ``allowed`` is enabled on it; with ``only``, no other VLAN is
    (``switchport trunk allowed vlan`` left at its default, every VLAN, is then non conforme).
    A port that is not found, or an agent without the trunk table, is erreur: that is not the
    candidate's configuration read.
    """

    id = "network.snmp_trunk"
    usually_serves = ("CP5.1",)
    example = "{interface: Gi0/1, allowed: [10, 20, 99], native: 99, only: true}"
    platform = "any"
    transport = "snmp"

    class Params(TrunkParams):
        pass

    def probes(self, params: TrunkParams) -> Mapping[str, Probe]:
        return {"trunks": snmp(TRUNK_WALK)}

    def judge(self, params: TrunkParams, results: Mapping[str, ProbeResult]) -> Verdict:
        expected = expected_trunk(params)
        got = _read(results["trunks"], expected, Msg("table des trunks"))
        if isinstance(got, Verdict):
            return got
        wanted = short_name(params.interface)
        names = {**{i: vb.text() for i, vb in column(got, IF_DESCR).items()},
                 **{i: vb.text() for i, vb in column(got, IF_NAME).items()}}
        index = next((i for i, name in names.items() if short_name(name) == wanted), None)
        if index is None:
            return Verdict.erreur(Msg("port {interface} introuvable dans ifName/ifDescr de l'agent",
                                      interface=params.interface),
                                  observed=Msg("{count} interface(s) publiée(s)", count=len(names)), expected=expected)
        status = column(got, STATUS).get(index)
        if status is None or not status.present:
            return Verdict.erreur(Msg("l'agent ne publie pas vlanTrunkPortTable (CISCO-VTP-MIB) pour {interface}",
                                      interface=names[index]), observed=Msg("table des trunks vide"),
                                  expected=expected)
        native = column(got, NATIVE).get(index)
        blocks = [bitmap_bytes(vb) for root in ENABLED if (vb := column(got, root).get(index)) is not None
                  and vb.present]
        return judge_trunk(Trunk(names[index], status.value == 1,
                                 native.value if native is not None and isinstance(native.value, int) else None,
                                 frozenset(vlans_of(blocks))), params)


CHECKS: tuple[type[Check], ...] = (SnmpTrunk,)
