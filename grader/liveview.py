"""The proctor's live view: one line per candidate, updated as each host ends.

A proctor watches a room, not a thread pool: the table says, per candidate, how many hosts
were reached, how many checks are done and how many of them are conclusive, and how long
that candidate's grading took. Hosts that could not be reached are said in plain words
above the table as they happen ("l'hôte srv-lin du candidat 03 (10.77.3.10) : pas de
réponse…"), so the proctor can act while the others go on.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from grader.i18n import N_, get_lang, status_text, t
from grader.i18n_checks import say

if TYPE_CHECKING:
    from grader.runner import HostJob


@dataclass
class CandidateLine:
    hosts_total: int = 0
    hosts_done: int = 0
    hosts_reached: int = 0
    checks_total: int = 0
    checks_done: int = 0
    conclusive: int = 0
    elapsed: float | None = None  # set when the candidate's last host ends


@dataclass
class LiveView:
    """Feed it each finished host (``host_done``); render it with ``with view.live():``."""

    console: Console
    jobs: Iterable[HostJob]
    verbose: bool = False
    lines: dict[str, CandidateLine] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.t0 = time.monotonic()
        for job in self.jobs:
            line = self.lines.setdefault(job.candidate.id, CandidateLine())
            line.hosts_total += 1
            line.checks_total += len(job.checks)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console)
        self.task = self.progress.add_task(t("msg.grading"), total=sum(c.hosts_total for c in self.lines.values()))
        self._live: Live | None = None

    def table(self) -> Table:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for key in (N_("col.candidate"), N_("live.hosts"), N_("live.checks"), N_("live.conclusive"),
                    N_("live.inconclusive"), N_("live.elapsed")):
            table.add_column(t(key), justify="left" if key == "col.candidate" else "right")
        now = time.monotonic() - self.t0
        for cand, line in sorted(self.lines.items()):
            inconclusive = line.checks_done - line.conclusive
            elapsed = line.elapsed if line.elapsed is not None else now
            done = line.hosts_done == line.hosts_total
            table.add_row(
                escape(cand),
                f"{line.hosts_reached}/{line.hosts_total}" + ("" if done else " …"),
                f"{line.checks_done}/{line.checks_total}",
                f"[green]{line.conclusive}[/]",
                f"[yellow]{inconclusive}[/]" if inconclusive else "·",
                f"{elapsed:.1f} s" + ("" if done else " …"),
            )
        return table

    def renderable(self) -> Group:
        return Group(self.table(), self.progress)

    def live(self) -> Live:
        self._live = Live(self.renderable(), console=self.console, refresh_per_second=8, transient=True,
                          get_renderable=self.renderable)
        return self._live

    def host_done(self, rep) -> None:
        line = self.lines.setdefault(rep.candidate, CandidateLine())
        line.hosts_done += 1
        line.hosts_reached += int(rep.outcome.reached)
        line.checks_done += len(rep.results)
        line.conclusive += sum(1 for r in rep.results if r.status.conclusive)
        if line.hosts_done >= line.hosts_total:
            line.elapsed = time.monotonic() - self.t0
        self.progress.advance(self.task)
        if not rep.outcome.reached:
            self.console.print(t("msg.unreachable", host=rep.host, cand=rep.candidate, addr=rep.address,
                                 reason=say(getattr(rep.outcome, "reason_ref", None), rep.outcome.reason, get_lang())),
                               style="magenta", markup=False)
        problems = Counter(say(getattr(r, "message_ref", None), r.message, get_lang())
                           for r in rep.results if r.status.value == "erreur" and rep.outcome.reached)
        for message, n in problems.items():
            self.console.print(t("msg.check_errors", host=rep.host, cand=rep.candidate, n=n, reason=message),
                               style="yellow", markup=False)
        if self.verbose:
            o = rep.outcome
            state = t("msg.reached") if o.reached else status_text(o.status.value)
            text = t("msg.host_line", label=f"{rep.candidate}/{rep.host}", status=state, execs=o.execs,
                     probes=len(rep.probes), dur=rep.duration)
            if o.host_key:
                text += " — " + t("msg.host_key") + f" {o.host_key}"
            if o.anomalies:
                text += " — " + t("msg.anomalies", n=len(o.anomalies))
            self.console.print(text, style="dim", markup=False)
