"""`cup-triage ask [CASE]`: the interview, in a terminal or as JSON lines (`--jsonl`).

Both front-ends drive the same `Interview` object; this module only reads lines, prints,
and saves (through io/session.py, which decides where and writes atomically).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from ..io.load import load_case, read_data_file
from ..io.render import assessment_document, percent, render_assessment
from ..io.session import SaveTarget, check_writable, choose_target, rescue, save_session
from ..reasoning.case import parse_case
from ..reasoning.errors import CaseError, CupTriageError
from ..sessions.interview import UNKNOWN, Interview, Question, unknown_paths
from .common import Context, pass_context, read_line, stop_exit_code, stops_as_interrupt

HELP = (
    "answer with the answer's name (y / n work for yes/no questions), ? = not known; "
    "commands: why, how, source N, rank, back, quit"
)
COMMANDS = ("why", "how", "rank", "back", "quit", "help", "source")
MAX_LISTED = 25
"""Longer lists of answers (earlier cancers: every primary) are shown by 'why', not each time."""


@click.command()
@click.argument("case_file", required=False, type=click.Path(path_type=Path))
@click.option("--case", "case_id", help="The case to interview in a file with several cases.")
@click.option(
    "--resume",
    "resume",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Continue a saved interview (a file ask saved is continued in place; any other "
    "file is never rewritten: the session is saved beside it).",
)
@click.option(
    "--save",
    "save_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the session to this file (it may exist: it is replaced). Default: a new file "
    "named after the case id; in --jsonl mode nothing is saved without --save.",
)
@click.option(
    "--jsonl",
    is_flag=True,
    help="Machine protocol: one JSON object per output line (question events, then a result "
    "event with the object `rank --json` prints); one answer or command per input line.",
)
@pass_context
def ask(
    ctx: Context,
    case_file: Path | None,
    case_id: str | None,
    resume: Path | None,
    save_path: Path | None,
    jsonl: bool,
) -> None:
    """Interview: what is known first, then clinical order, the most informative question next.

    Starts empty or from CASE_FILE (e.g. the referral: sex, age, sites, histology) and stops
    when no answer left could change the top three, a favourable subset, a red flag or the
    advised work-up. The session is saved as a valid case file after every answer and on
    quit, Ctrl-C, SIGTERM and SIGHUP.
    """
    if resume is not None and case_file is not None:
        raise click.UsageError("give either CASE_FILE or --resume, not both")
    interview, several = _start(ctx, resume or case_file, case_id)
    target: SaveTarget | None = None
    if save_path is not None or not jsonl:
        target = choose_target(
            case_id=interview.case.id,
            explicit=save_path,
            resume=resume,
            start=case_file,
            several_cases=several,
        )
        check_writable(target.path)
    front = _JsonLines(interview) if jsonl else _Terminal(interview, ctx)
    saver = _Saver(interview, target, front.note)
    # Ctrl-C, SIGTERM or SIGHUP: the session is saved, then the command exits.
    with stops_as_interrupt():
        front.begin(target)
        try:
            front.run(saver.autosave)
        except KeyboardInterrupt as stop:
            front.interrupted()
            saver.final()
            sys.exit(stop_exit_code(stop))
        saver.final()
        front.finish()


def _start(ctx: Context, path: Path | None, case_id: str | None) -> tuple[Interview, bool]:
    vocabulary = ctx.kb.vocabulary
    unknown: frozenset[str] = frozenset()
    several = False
    if path is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        case = parse_case({"id": f"interview-{stamp}"}, vocabulary)
    else:
        cases = load_case(path, vocabulary)
        several = len(cases) > 1 or path.suffix.lower() in (".csv", ".json")
        if case_id is not None:
            cases = [c for c in cases if c.id == case_id]
            if not cases:
                raise click.BadParameter(f"no case {case_id!r} in {path}", param_hint="--case")
        elif len(cases) > 1:
            ids = ", ".join(c.id for c in cases[:5]) + (", …" if len(cases) > 5 else "")
            raise click.UsageError(
                f"{path} holds {len(cases)} cases ({ids}); choose one with --case"
            )
        case = cases[0]
        unknown = _unknown_in(path, case.id, vocabulary)
    return Interview(ctx.triage, case, ctx.questionnaire, unknown=unknown), several


def _unknown_in(path: Path, case_id: str, vocabulary) -> frozenset[str]:
    """The answers a saved file marks `unknown` (kept, so they are not asked again)."""
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        return frozenset()
    data = read_data_file(path)
    items = data if isinstance(data, list) else [data]
    for item in items:
        if isinstance(item, Mapping) and str(item.get("id")) == case_id:
            return unknown_paths(item, vocabulary)
    return frozenset()


class _Saver:
    """Saves after every answer and at the end; a failed save never loses the interview."""

    def __init__(self, interview: Interview, target: SaveTarget | None, note: Callable) -> None:
        self.interview = interview
        self.target = target
        self.note = note
        self.failed = False

    def autosave(self) -> None:
        if self.target is None:
            return
        try:
            save_session(self.target.path, self.interview.to_file_dict())
            self.failed = False
        except (OSError, CupTriageError) as error:
            if not self.failed:
                self.note("save_failed", f"could not save to {self.target.path}: {error}")
            self.failed = True

    def final(self) -> None:
        if self.target is None:
            return
        self.autosave()
        if not self.failed:
            self.note("saved", str(self.target.path))
            return
        rescued = rescue(self.interview.to_file_dict())
        if rescued is not None:
            self.note("saved", str(rescued))
        else:
            self.note("save_failed", "nothing could be saved; the case follows")
            click.echo(json.dumps(self.interview.to_file_dict(), ensure_ascii=False), err=True)


# ---------------------------------------------------------------- the terminal
class _Terminal:
    def __init__(self, interview: Interview, ctx: Context) -> None:
        self.interview = interview
        self.ctx = ctx
        self.last_reasons: list = []
        self.read = _line_reader(self._completions)
        self.completions: list[str] = []

    def _completions(self) -> list[str]:
        return self.completions

    def note(self, event: str, text: str) -> None:
        if event == "saved":
            click.echo(
                f"Saved the session to {text} (continue with: cup-triage ask --resume {text})"
            )
        else:
            click.echo(f"Warning: {text}", err=True)

    def begin(self, target: SaveTarget | None) -> None:
        interview = self.interview
        click.echo(
            f"cup-triage interview · case {interview.case.id} · decision support, not a diagnosis"
        )
        if target is not None:
            click.echo(f"The session is saved after every answer: {target.note}.")
        click.echo(HELP)

    def interrupted(self) -> None:
        click.echo("\nInterrupted: saving the session.")

    def finish(self) -> None:
        if self.interview.stop_reason:
            click.echo(f"\nStopped: {self.interview.stop_reason}")
        render_assessment(self.interview.result(), self.ctx.console)

    def run(self, after_answer: Callable[[], None]) -> None:
        interview = self.interview
        vocabulary = interview.vocabulary
        while True:
            question = interview.next_question()
            if question is None:
                return
            click.echo(f"\nNow: {_compact(interview)}")
            self.completions = [*question.answers, "unknown", *COMMANDS]
            if question.kind == "several":
                click.echo(_wrapped(question))
            step = question.stage_label or vocabulary.steps[question.step].label
            while True:
                line = self.read(f"[{step}] {question.text} ({_options(question)}) > ")
                if line is None:
                    interview.stop_reason = None
                    return
                command, _, argument = line.strip().lower().partition(" ")
                if command in ("quit", "q", "exit"):
                    return
                if command in ("why", "w"):
                    self._why(question)
                elif command in ("how", "h"):
                    self._how()
                elif command == "source":
                    self._source(argument)
                elif command in ("rank", "r"):
                    for primary, probability in interview.ranking(top=10):
                        click.echo(
                            f"  {vocabulary.primary_label(primary):<52} {percent(probability):>6}"
                        )
                elif command in ("back", "b"):
                    undone = interview.undo()
                    click.echo(f"  Undid: {undone.words}." if undone else "  Nothing to undo yet.")
                    after_answer()
                    break
                elif command in ("help", "help?"):
                    click.echo(HELP)
                else:
                    try:
                        given = interview.answer(question.path, line if line.strip() else "?")
                    except CaseError as error:
                        hint = f" ({error.hint})" if error.hint else ""
                        click.echo(f"  Not understood: {error.message}{hint}. {HELP}")
                        continue
                    if given.value == UNKNOWN:
                        click.echo(f"  Noted as not known: {given.words.split(':')[0]}.")
                    after_answer()
                    break

    def _why(self, question: Question) -> None:
        why = self.interview.why(question.path)
        if question.kind == "several" and len(question.answers) > MAX_LISTED:
            listed = ", ".join(f"{a} ({question.labels.get(a, a)})" for a in question.answers)
            click.echo(
                textwrap.fill(f"Answers: {listed}", initial_indent="  ", subsequent_indent="    ")
            )
        if why.reason:
            click.echo(_fill(f"Asked because the answer {why.reason}."))
        if why.separates:
            click.echo(f"  It separates: {', '.join(why.separates)}.")
        if not why.rules:
            click.echo("  No rule that can apply to this patient reads this answer.")
        self.last_reasons = list(why.rules)
        for number, reason in enumerate(why.rules, 1):
            click.echo(_fill(f"{number}. If {reason.when}: {reason.effect}."))
        if why.rules:
            click.echo("  (source N: the reasoning and the reference of rule N)")

    def _how(self) -> None:
        how = self.interview.how()
        click.echo(f"  {how.leader} leads ({percent(how.probability)}):")
        if not how.evidence:
            click.echo("   nothing specific yet: it is the most common hidden primary at the start")
        self.last_reasons = list(how.evidence)
        for number, reason in enumerate(how.evidence, 1):
            click.echo(_fill(f"{number}. {reason.when}: {reason.effect}."))

    def _source(self, argument: str) -> None:
        if not argument.isdigit() or not 1 <= int(argument) <= len(self.last_reasons):
            click.echo(
                "  Type 'why' or 'how' first, then 'source N' for one of its numbered lines."
            )
            return
        reason = self.last_reasons[int(argument) - 1]
        click.echo(_fill(f"Why: {reason.rationale}"))
        click.echo(_fill(f"Source: {reason.source}"))


def _fill(text: str) -> str:
    width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))
    return textwrap.fill(text, width=width, initial_indent="  ", subsequent_indent="     ")


def _wrapped(question: Question) -> str:
    if len(question.answers) > MAX_LISTED:
        text = (
            f"answer with the name(s), e.g. {', '.join(question.answers[:3])} "
            "(Tab completes on a terminal; 'why' lists them all), none, or ?"
        )
    else:
        text = f"answer with a comma-separated list of: {', '.join(question.answers)}; none; or ?"
    width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))
    return textwrap.fill(text, width=width, initial_indent="  ", subsequent_indent="    ")


def _options(question: Question) -> str:
    if question.kind == "number":
        return "years"
    if question.kind == "value":
        return "/".join(question.answers) + " or a value"
    if question.kind == "several":
        return "list, none or ?"
    if len(question.answers) <= 3:
        return "/".join(question.answers) + "/?"
    return ", ".join(question.labels[a] for a in question.answers) + ", or ?"


def _compact(interview: Interview) -> str:
    vocabulary = interview.vocabulary
    return " · ".join(f"{vocabulary.primary_label(p)} {percent(v)}" for p, v in interview.ranking())


def _line_reader(completions: Callable[[], list[str]]) -> Callable[[str], str | None]:
    """Line editing and history on a terminal (prompt_toolkit); plain lines from a pipe."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import Completer, Completion
        from prompt_toolkit.history import InMemoryHistory

        class Answers(Completer):
            def get_completions(self, document, complete_event):
                word = document.get_word_before_cursor(pattern=_WORD)
                for option in completions():
                    if option.startswith(word.lower()):
                        yield Completion(option, start_position=-len(word))

        # History in memory only: answers are patient data and are never written elsewhere.
        session = PromptSession(history=InMemoryHistory(), completer=Answers())

        def read(prompt: str) -> str | None:
            try:
                return session.prompt(prompt)
            except EOFError:
                return None

        return read

    return read_line


_WORD = re.compile(r"[^,\s]+")


# ---------------------------------------------------------------- the machine protocol
class _JsonLines:
    """`--jsonl`: one JSON object per line out, one answer or command per line in."""

    def __init__(self, interview: Interview) -> None:
        self.interview = interview
        self.ended_by = "stopped"

    def emit(self, event: str, **fields: Any) -> None:
        sys.stdout.write(json.dumps({"event": event, **fields}, ensure_ascii=False, sort_keys=True))
        sys.stdout.write("\n")
        sys.stdout.flush()

    def note(self, event: str, text: str) -> None:
        self.emit(event, path=text) if event == "saved" else self.emit("warning", message=text)

    def begin(self, target: SaveTarget | None) -> None:
        stamp = self.interview.triage.stamp
        self.emit(
            "start",
            case_id=self.interview.case.id,
            knowledge_base={"version": stamp.version, "hash": stamp.hash},
            save=str(target.path) if target else None,
            commands=list(COMMANDS[:5]),
        )

    def interrupted(self) -> None:
        self.emit("stop", reason="interrupted")

    def finish(self) -> None:
        reason = self.interview.stop_reason
        self.emit("stop", reason=reason or self.ended_by)
        # The same object `rank --json` prints (`cup-triage schema assessment`).
        interview = self.interview
        document = assessment_document([(interview.case, interview.result())], interview.vocabulary)
        self.emit("result", document=document)

    def run(self, after_answer: Callable[[], None]) -> None:
        interview = self.interview
        while True:
            question = interview.next_question()
            if question is None:
                return
            self.emit(
                "question",
                finding=question.path,
                answers=list(question.answers),
                text=question.text,
                kind=question.kind,
                step=question.step,
                stage=question.stage,
                reason=question.reason,
                separates=[interview.vocabulary.primary_label(p) for p in question.separates],
                leaders=[
                    {"primary": p, "probability": round(v, 6)} for p, v in interview.ranking()
                ],
            )
            line = sys.stdin.readline()
            if not line:
                interview.stop_reason, self.ended_by = None, "end of input"
                return
            command = line.strip().lower()
            if command in ("quit", "exit"):
                interview.stop_reason, self.ended_by = None, "quit"
                return
            if command == "why":
                why = interview.why(question.path)
                self.emit(
                    "why",
                    finding=question.path,
                    reason=why.reason,
                    separates=list(why.separates),
                    rules=[r.__dict__ for r in why.rules],
                )
            elif command == "how":
                how = interview.how()
                self.emit(
                    "how",
                    leader=how.leader,
                    probability=round(how.probability, 6),
                    evidence=[r.__dict__ for r in how.evidence],
                )
            elif command == "rank":
                self.emit(
                    "ranking",
                    candidates=[
                        {"primary": p, "probability": round(v, 6)}
                        for p, v in interview.ranking(top=10)
                    ],
                )
            elif command == "back":
                undone = interview.undo()
                self.emit(
                    "undone",
                    finding=undone.path if undone else None,
                    words=undone.words if undone else None,
                )
                after_answer()
            else:
                try:
                    given = interview.answer(question.path, command or UNKNOWN)
                except CaseError as error:
                    self.emit(
                        "error", finding=question.path, message=error.message, hint=error.hint
                    )
                    continue
                self.emit(
                    "answered", finding=given.path, value=_jsonable(given.value), words=given.words
                )
                after_answer()


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
