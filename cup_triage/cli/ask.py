"""`cup-triage ask [CASE]`: the guided interview in the terminal (or driven by piped answers)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from ..io.batch import write_case_file
from ..io.load import load_case
from ..io.render import percent, render_assessment
from ..reasoning.case import parse_case
from ..reasoning.errors import CaseError
from ..sessions.interview import Interview
from .common import Context, pass_context, read_line

HELP = (
    "answers: y / n (or the answer's name), ? or skip = unknown; "
    "commands: why, how, rank, back, quit"
)


@click.command()
@click.argument("case_file", required=False, type=click.Path(path_type=Path))
@click.option(
    "--resume",
    "resume",
    type=click.Path(exists=True, path_type=Path),
    help="Continue a saved interview (a case file written by ask).",
)
@click.option(
    "--save",
    "save_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to save the session (default: <case id>.yaml in this folder).",
)
@pass_context
def ask(ctx: Context, case_file: Path | None, resume: Path | None, save_path: Path | None) -> None:
    """Interview: ask what is unknown, history first, the most informative question next.

    Starts empty or from CASE_FILE (e.g. the pathology findings). The session is saved as a
    valid case file on quit, on Ctrl-C and at the end of input.
    """
    vocabulary = ctx.kb.vocabulary
    start = resume or case_file
    if start is not None:
        case = load_case(start, vocabulary)[0]
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        case = parse_case({"id": f"interview-{stamp}"}, vocabulary)
    interview = Interview(ctx.triage, case)
    target = save_path or resume or Path(f"{case.id}.yaml")
    console = ctx.console

    def save() -> None:
        write_case_file(interview.case, vocabulary, target)
        click.echo(
            f"Saved the session to {target} (continue with: cup-triage ask --resume {target})"
        )

    click.echo(f"cup-triage interview · case {case.id} · decision support, not a diagnosis")
    click.echo(HELP)
    try:
        finished = _interview_loop(interview)
    except KeyboardInterrupt:
        click.echo("\nInterrupted.")
        save()
        sys.exit(130)
    save()
    if finished:
        click.echo("No remaining question could change the top three materially.")
    render_assessment(interview.report(), console)


def _compact(interview: Interview) -> str:
    labels = interview.vocabulary.primaries
    return " · ".join(f"{labels[p].label} {percent(v)}" for p, v in interview.ranking())


def _interview_loop(interview: Interview) -> bool:
    """Ask until no question matters (True) or the user quits or input ends (False)."""
    vocabulary = interview.vocabulary
    while True:
        question = interview.next_question()
        if question is None:
            return True
        step = vocabulary.steps[question.step].label
        click.echo(f"\nNow: {_compact(interview)}")
        finding = vocabulary.findings[question.finding]
        if finding.is_numeric:
            options = "years"
        elif len(finding.answers) <= 3:
            options = "/".join(finding.answers)
        else:
            options = "type 'why' to list the answers"
        while True:
            line = read_line(f"[{step}] {question.question} ({options}) > ")
            if line is None:
                return False
            command = line.lower()
            if command in ("quit", "q", "exit"):
                return False
            if command in ("why", "w"):
                _show_why(interview, question.finding)
            elif command in ("how", "h"):
                _show_how(interview)
            elif command in ("rank", "r"):
                for primary, probability in interview.ranking(top=10):
                    click.echo(
                        f"  {vocabulary.primaries[primary].label:<52} {percent(probability):>6}"
                    )
            elif command in ("back", "b"):
                click.echo("Undone." if interview.back() else "Nothing to undo.")
                break
            elif command in ("", "?", "u", "unknown", "skip", "s"):
                interview.skip(question.finding)
                break
            elif command in ("help", "help?"):
                click.echo(HELP)
            else:
                try:
                    interview.answer(
                        question.finding, interview.parse_answer(question.finding, line)
                    )
                    break
                except CaseError as error:
                    hint = f" ({error.hint})" if error.hint else ""
                    click.echo(f"  Not understood: {error.message}{hint}. {HELP}")


def _show_why(interview: Interview, key: str) -> None:
    why = interview.why(key)
    labels = interview.vocabulary.primaries
    if why.separates:
        names = ", ".join(labels[p].label for p in why.separates)
        click.echo(f"  This answer would most change the standing of: {names}.")
    if len(why.finding.answers) > 3:
        click.echo(f"  Possible answers: {', '.join(why.finding.answers)}")
    click.echo(f"  It feeds {len(why.rules)} rule(s):")
    for rule in why.rules[:6]:
        strongest = sorted(rule.lr.items(), key=lambda kv: -abs(kv[1] - 1))[:3]
        weights = ", ".join(f"{labels[p].label} ×{v:.3g}" for p, v in strongest)
        click.echo(
            f"   - {rule.id} [{rule.kind}] {rule.describe()}" + (f" → {weights}" if weights else "")
        )
        click.echo(f"     {rule.rationale}")


def _show_how(interview: Interview) -> None:
    leader, evidence = interview.how()
    click.echo(f"  {interview.vocabulary.primaries[leader].label} leads because of:")
    if not evidence:
        click.echo("   - nothing specific yet: it is the most common occult primary a priori")
    for item in evidence[:6]:
        click.echo(
            f"   - ×{item.likelihood_ratio:.3g} {item.conditions} ({item.rule_id}): "
            f"{item.rationale}"
        )
