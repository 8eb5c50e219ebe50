"""What every check pack shares: evidence text said in any language, parameter types.

Neutral ground: a Linux, network or Windows check imports from here, never from another pack's
private module, so that a pack can change its own parsing without breaking the others. Only
what more than one pack uses, and means the same there, belongs here; a pack's own helpers stay
in the pack (``checks/linux/_parse.py``, ``checks/network/_common.py``, ``checks/windows/_ps.py``).
"""
