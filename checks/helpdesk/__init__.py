"""The built-in service-desk pack (entry point ``helpdesk``): tickets, solutions, knowledge base and assets in GLPI.

GLPI is read through its REST API (the ``glpi`` channel, :mod:`grader.transports.glpi`), one session per
host; the judges (:mod:`checks.helpdesk.checks`) are pure functions of what the API answered.
"""

from __future__ import annotations

from checks.helpdesk.checks import CHECKS
from grader.check import Check
from grader.plugins import hookimpl

__all__ = ["CHECKS", "grader_register_checks"]


@hookimpl
def grader_register_checks() -> list[type[Check]]:
    """Every check of the helpdesk pack."""
    return list(CHECKS)
