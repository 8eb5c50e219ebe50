"""The trainer's follow-up: a candidate's attempts over the runs of a session, and what changed between two runs.

Everything is read from the session's store: a trainer who reruns the same rubric on the
same roster after each practice session gets one run per attempt, and these commands
compare them. Nothing here contacts a host.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from grader.cli.common import (
    FrenchCommand,
    LangOpt,
    RubricSessionOpt,
    SessionOpt,
    apply_lang,
    console,
    open_store,
    resolve_session,
)
from grader.errors import UsageError
from grader.i18n import N_, status_text, t

# How good a status is, for "better"/"worse" in a diff (conclusive outcomes only are ranked).
_RANK = {"conforme": 2, "non_conforme": 1}


def bar(fraction: float, width: int = 20) -> str:
    """A text progress bar that prints and copies anywhere (no colour needed)."""
    fraction = min(max(fraction, 0.0), 1.0)
    full = round(fraction * width)
    return "█" * full + "░" * (width - full)


def history(session: Path, candidate: str) -> list[dict]:
    """One row per run that graded ``candidate``: counts per status and points, oldest first."""
    store = open_store(session)
    try:
        rows = []
        for run in store.runs():
            results = [r for r in store.results(run["id"]) if r["candidate"] == candidate]
            if not results:
                continue
            counts = Counter(r["status"] for r in results)
            got = sum(r["points"] for r in results if r["status"] == "conforme")
            total = sum(r["points"] for r in results)
            rows.append({"run": run["id"], "started": run["started"], "rubric": run["rubric_id"],
                         "counts": counts, "points": got, "total": total})
        return rows
    finally:
        store.close()


def diff(session: Path, run_a: str, run_b: str) -> list[dict]:
    """Every (candidate, check, host) whose status differs between two runs (absent counts as a status)."""
    return _compare(session, run_a, run_b)[0]


def _compare(session: Path, run_a: str, run_b: str) -> tuple[list[dict], int]:
    """The changes between two runs and how many (candidate, check, host) were compared, in one read."""
    store = open_store(session)
    try:
        store.run(run_a)
        store.run(run_b)
        a = {(r["candidate"], r["check_id"], r["host"]): r for r in store.results(run_a)}
        b = {(r["candidate"], r["check_id"], r["host"]): r for r in store.results(run_b)}
    finally:
        store.close()
    out = []
    for key in sorted(a.keys() | b.keys()):
        before = a[key]["status"] if key in a else None
        after = b[key]["status"] if key in b else None
        if before != after:
            change = _RANK.get(after or "", 0) - _RANK.get(before or "", 0)
            out.append({"candidate": key[0], "check_id": key[1], "host": key[2], "before": before, "after": after,
                        "change": change, "observed": (b.get(key) or {}).get("observed", "")})
    return out, len(a.keys() | b.keys())


def register(app: typer.Typer) -> None:
    @app.command("history", help=t("cmd.history"), cls=FrenchCommand)
    def history_cmd(
        candidate: Annotated[str, typer.Argument(help=t("arg.candidate"), show_default=False)],
        session: SessionOpt = None,
        rubric: RubricSessionOpt = None,
        lang: LangOpt = None,
    ) -> None:
        apply_lang(lang)
        session = resolve_session(session, rubric)
        rows = history(session, candidate)
        if not rows:
            raise UsageError(t("hist.none", cand=candidate, path=session))
        table = Table(title=t("hist.title", cand=candidate), title_justify="left")
        for key in (N_("hist.run"), N_("hist.date"), N_("hist.rubric")):
            table.add_column(t(key))
        for status in ("conforme", "non_conforme", "erreur", "injoignable"):
            table.add_column(status_text(status), justify="right")
        table.add_column(t("cli.col.points"), justify="right")
        table.add_column(t("hist.progress"))
        for row in rows:
            c = row["counts"]
            fraction = row["points"] / row["total"] if row["total"] else 0.0
            table.add_row(row["run"], row["started"][:16].replace("T", " "), escape(row["rubric"]),
                          *[str(c[s]) if c[s] else "·" for s in ("conforme", "non_conforme", "erreur", "injoignable")],
                          f"{row['points']:g}/{row['total']:g}", f"{bar(fraction)} {fraction:4.0%}")
        console.print(table)

    @app.command("diff", help=t("cmd.diff"), cls=FrenchCommand)
    def diff_cmd(
        run_a: Annotated[str, typer.Argument(help=t("arg.run_a"), show_default=False)],
        run_b: Annotated[str, typer.Argument(help=t("arg.run_b"), show_default=False)],
        session: SessionOpt = None,
        rubric: RubricSessionOpt = None,
        lang: LangOpt = None,
    ) -> None:
        apply_lang(lang)
        changes, compared = _compare(resolve_session(session, rubric), run_a, run_b)
        if not changes:
            console.print(t("diff.none", a=run_a, b=run_b, n=compared))
            return
        table = Table(title=t("diff.title", a=run_a, b=run_b), title_justify="left")
        for key in (N_("col.candidate"), N_("cli.col.host"), N_("diff.check"), N_("diff.before"), N_("diff.after")):
            table.add_column(t(key))
        for c in changes:
            style = "green" if c["change"] > 0 else "red" if c["change"] < 0 else "yellow"
            label = lambda s: status_text(s) if s else t("diff.absent")
            table.add_row(escape(c["candidate"]), escape(c["host"]), escape(c["check_id"]), label(c["before"]),
                          f"[{style}]{label(c['after'])}[/]")
        console.print(table)
        console.print(t("diff.count", changed=len(changes), n=compared,
                        better=sum(1 for c in changes if c["change"] > 0),
                        worse=sum(1 for c in changes if c["change"] < 0)))
