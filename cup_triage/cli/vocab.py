"""`cup-triage vocab [SECTION]`: the ids a case file may use (docs/case-format.md)."""

from __future__ import annotations

import click

from ..io.render import to_json
from ..reasoning.errors import InputError
from ..reasoning.vocabulary import catalogue, did_you_mean
from .common import Context, json_option, pass_context


@click.command()
@click.argument("section", required=False)
@json_option
@pass_context
def vocab(ctx: Context, section: str | None, as_json: bool) -> None:
    """List the findings a case file may give, with labels and allowed answers.

    SECTION (e.g. labs, markers, sites) lists one section; measured lab tests show their
    reference unit, the other units they accept and the upper reference limit.
    """
    vocabulary = ctx.kb.vocabulary
    sections = sorted({f.section for f in vocabulary.findings.values()} - {"derived"})
    if section is not None and section not in sections:
        raise InputError(
            f"unknown section {section!r}",
            hint=did_you_mean(section, sections) or f"sections: {', '.join(sections)}",
        )
    rows = catalogue(vocabulary, section)
    synonyms = getattr(vocabulary, "synonyms", None)  # rules/synonyms.yaml: also accepted
    for row in rows if synonyms is not None else ():
        kind, _, finding = row["key"].partition(".")
        words = synonyms.words_for(kind, finding) if finding else []
        if words:
            row["synonyms"] = words
    if as_json:
        click.echo(to_json(rows))
        return
    for row in rows:
        answers = " | ".join(row["answers"]) if len(row["answers"]) <= 4 else "an id"
        if "unit" in row:
            units = ", ".join([row["unit"], *row["units"]])
            answers += f" | a value ({units}; upper limit {row['upper_limit']:g} {row['unit']})"
        if not row["answers"]:
            answers = "a number"
        sex = f" [{row['sex']} only]" if "sex" in row else ""
        also = f" (also: {', '.join(row['synonyms'])})" if row.get("synonyms") else ""
        click.echo(f"{row['key']}: {row['label']}{sex} — {answers}{also}")
