"""One catalogue for what people read on the command line: French by default, English on demand.

The language is chosen once per process, before the command-line interface is built (its
help texts are part of the catalogue): ``--lang en`` on the command line, else
``GRADER_LANG``, else ``LANG``/``LC_ALL`` starting with ``en``; anything else is French.
"""

from __future__ import annotations

import os
import sys

CATALOGUE: dict[str, tuple[str, str]] = {
    # application and options
    "app.help": ("grader — correction automatisée des mises en situation professionnelles TSSR "
                 "(preuves par compétence pour le jury).",
                 "grader — automated grading of TSSR practical exams (per-competence evidence for the jury)."),
    "opt.lang": ("Langue des messages et des rapports (fr ou en).", "Language of messages and reports (fr or en)."),
    "opt.session": ("Dossier de la session (base SQLite, rapports).", "Session directory (SQLite store, reports)."),
    "opt.workers": ("Nombre d'hôtes corrigés en parallèle.", "Number of hosts graded in parallel."),
    "opt.verbose": ("Journal détaillé (une ligne par hôte : exécutions SSH, sondes, durée).",
                    "Verbose log (one line per host: SSH execs, probes, duration)."),
    "opt.resume": ("Reprendre la correction RUN : seuls les hôtes non concluants sont recorrigés.",
                   "Resume run RUN: only hosts without conclusive results are graded again."),
    "opt.keep": ("Laisser le labo démarré après la démonstration.", "Leave the lab running after the demo."),
    "opt.platform": ("Filtrer par plateforme (linux, windows, network).", "Filter by platform (linux, windows, network)."),
    "opt.roster": ("Liste des candidats (CSV) à valider avec le barème.", "Candidate roster (CSV) to validate with the rubric."),
    "opt.run": ("Identifiant de la correction (par défaut : la dernière).", "Run id (default: the latest)."),
    "opt.out": ("Dossier de sortie des rapports.", "Output directory of the reports."),
    "opt.no_report": ("Ne pas écrire les rapports à la fin.", "Do not write the reports at the end."),
    "arg.rubric": ("Barème (YAML).", "Rubric (YAML)."),
    "arg.roster": ("Liste des candidats (CSV).", "Candidate roster (CSV)."),
    # commands
    "cmd.run": ("Corriger une session : tous les candidats, tous leurs hôtes, en parallèle.",
                "Grade a session: every candidate, every host, concurrently."),
    "cmd.demo": ("Démonstration complète : démarre un labo de 3 candidats, le corrige, écrit le rapport.",
                 "Full demo: boots a lab of 3 candidates, grades it, writes the report."),
    "cmd.lab": ("Labo local d'hôtes candidats jetables (systemd-nspawn).", "Local lab of throwaway candidate hosts (systemd-nspawn)."),
    "cmd.lab.up": ("Démarrer le labo de démonstration.", "Start the demo lab."),
    "cmd.lab.down": ("Arrêter et nettoyer le labo (sans risque si déjà arrêté).", "Stop and clean the lab (safe if already down)."),
    "cmd.lab.status": ("État des hôtes du labo.", "State of the lab's hosts."),
    "cmd.checks": ("Vérifications disponibles (greffons).", "Available checks (plugins)."),
    "cmd.checks.list": ("Lister les vérifications : id, transport, paramètres, phrase lue par le jury.",
                        "List checks: id, transport, parameters, the sentence the jury reads."),
    "cmd.rubric": ("Barèmes : validation et schéma.", "Rubrics: validation and schema."),
    "cmd.rubric.validate": ("Valider un barème (et une liste de candidats) : toutes les erreurs, localisées.",
                            "Validate a rubric (and a roster): every error, located."),
    "cmd.rubric.schema": ("Afficher le schéma JSON des barèmes (pour l'éditeur).", "Print the rubrics' JSON Schema (for editors)."),
    "cmd.report": ("(Ré)écrire les rapports d'une correction.", "(Re)write the reports of a run."),
    "cmd.referential": ("Afficher le référentiel de certification (blocs, compétences, critères).",
                        "Show the certification referential (blocks, competences, criteria)."),
    # messages
    "msg.rubric_ok": ("Barème valide : {checks} vérifications, {hosts} hôtes.", "Rubric valid: {checks} checks, {hosts} hosts."),
    "msg.roster_ok": ("Liste valide : {n} candidats.", "Roster valid: {n} candidates."),
    "msg.problems": ("{n} problème(s) :", "{n} problem(s):"),
    "msg.grading": ("Correction", "Grading"),
    "msg.run_start": ("Correction {run} : {cands} candidats, {hosts} hôtes, {checks} vérifications.",
                      "Run {run}: {cands} candidates, {hosts} hosts, {checks} checks."),
    "msg.resume": ("Reprise de {run} : {n} hôte(s) à recorriger, {kept} conservé(s).",
                   "Resuming {run}: {n} host(s) to grade again, {kept} kept."),
    "msg.host_line": ("{label} : {status} — {execs} exécution(s) SSH, {probes} sondes, {dur:.2f} s",
                      "{label}: {status} — {execs} SSH exec(s), {probes} probes, {dur:.2f} s"),
    "msg.interrupted": ("Interrompu : les résultats déjà collectés sont enregistrés. Reprendre avec : grader run {rubric} {roster} --session {session} --resume {run}",
                        "Interrupted: results collected so far are saved. Resume with: grader run {rubric} {roster} --session {session} --resume {run}"),
    "msg.summary": ("Résumé de la correction {run}", "Summary of run {run}"),
    "msg.reports": ("Rapports : {path}", "Reports: {path}"),
    "msg.store": ("Base de la session : {path}", "Session store: {path}"),
    "msg.all_conclusive": ("Toutes les vérifications sont concluantes.", "Every check is conclusive."),
    "msg.some_inconclusive": ("{n} vérification(s) non concluante(s) (erreur, injoignable, non évalué) : voir le rapport.",
                              "{n} check(s) not conclusive (error, unreachable, not evaluated): see the report."),
    "msg.unreachable": ("l'hôte {host} du candidat {cand} ({addr}) : {reason}", "host {host} of candidate {cand} ({addr}): {reason}"),
    "msg.lab_need_root": ("Le labo doit être lancé en root (espaces de noms réseau, systemd-nspawn).",
                          "The lab must run as root (network namespaces, systemd-nspawn)."),
    "msg.lab_up": ("Labo démarré : {n} hôte(s).", "Lab up: {n} host(s)."),
    "msg.lab_down": ("Labo arrêté et nettoyé.", "Lab stopped and cleaned."),
    "msg.lab_empty": ("Aucun hôte dans le labo.", "No host in the lab."),
    "msg.demo_truth": ("Vérité plantée : {ok}/{total} statuts conformes à ce qui a été planté.",
                       "Planted truth: {ok}/{total} statuses match what was planted."),
    "msg.demo_mismatch": ("Écart avec la vérité plantée : candidat {cand}, {check} : attendu {expected}, obtenu {got}",
                          "Mismatch with the planted truth: candidate {cand}, {check}: expected {expected}, got {got}"),
    "msg.reached": ("joint", "reached"),
    "live.hosts": ("Hôtes joints", "Hosts reached"),
    "live.checks": ("Vérifications", "Checks"),
    "live.conclusive": ("Concluantes", "Conclusive"),
    "live.inconclusive": ("Non concluantes", "Not conclusive"),
    "live.elapsed": ("Durée", "Elapsed"),
    "msg.check_errors": ("l'hôte {host} du candidat {cand} : {n} vérification(s) en erreur — {reason}",
                         "host {host} of candidate {cand}: {n} check(s) in error — {reason}"),
    "msg.host_key": ("clé", "key"),
    "msg.anomalies": ("{n} anomalie(s) hors des sondes", "{n} anomaly(ies) outside the probes"),
    "opt.snapshot": ("Instantané : toutes les machines sont relevées au même instant (fin de l'épreuve), "
                     "puis jugées ; le rapport donne la fenêtre de collecte de chaque candidat.",
                     "Snapshot: every machine is collected at the same instant (end of the timed phase), then "
                     "judged; the report gives each candidate's collection window."),
    "msg.window": ("Fenêtre de collecte : {start} → {end} ({span:.2f} s pour toute la salle)",
                   "Collection window: {start} → {end} ({span:.2f} s for the whole room)"),
    "msg.lab_kept": ("Labo laissé démarré (--keep) : « grader lab down » pour l'arrêter.",
                     "Lab left running (--keep): \"grader lab down\" stops it."),
    "lab.running": ("démarré", "running"),
    "lab.down": ("éteint (voulu)", "down (on purpose)"),
    "lab.dead": ("arrêté", "stopped"),
    "msg.no_run": ("Aucune correction dans {path}.", "No run in {path}."),
    # table headings and statuses
    "col.candidate": ("Candidat", "Candidate"),
    "col.id": ("Identifiant", "Id"),
    "col.transport": ("Transport", "Transport"),
    "col.params": ("Paramètres", "Parameters"),
    "col.sentence": ("Phrase pour le jury", "Sentence for the jury"),
    "col.host": ("Hôte", "Host"),
    "col.address": ("Adresse", "Address"),
    "col.state": ("État", "State"),
    "col.points": ("Points", "Points"),
    "status.conforme": ("conforme", "compliant"),
    "status.non_conforme": ("non conforme", "not compliant"),
    "status.erreur": ("erreur", "error"),
    "status.injoignable": ("injoignable", "unreachable"),
    "status.non_evalue": ("non évalué", "not evaluated"),
}


def _detect(argv: list[str], environ: dict[str, str]) -> str:
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            return "en" if argv[i + 1].lower().startswith("en") else "fr"
        if arg.startswith("--lang="):
            return "en" if arg.split("=", 1)[1].lower().startswith("en") else "fr"
    for var in ("GRADER_LANG", "LC_ALL", "LANG"):
        value = environ.get(var, "")
        if value:
            return "en" if value.lower().startswith("en") else "fr"
    return "fr"


_lang = _detect(sys.argv, dict(os.environ))


def set_lang(lang: str) -> None:
    global _lang
    _lang = "en" if lang.lower().startswith("en") else "fr"


def get_lang() -> str:
    return _lang


def t(key: str, **values: object) -> str:
    fr, en = CATALOGUE[key]
    text = en if _lang == "en" else fr
    return text.format(**values) if values else text
