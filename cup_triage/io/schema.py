"""The output contract: pydantic models of every JSON output, and the JSON Schema made from them.

`rank --json`, the result event of `ask --jsonl` and `cup_triage.assess_document` all give one
`AssessmentDocument` (one shape whatever the number of cases); `score` writes one `ScoreRow`
per case (JSON Lines, or inside a `BatchDocument` for `-o x.json`). `cup-triage schema KIND`
prints the schema of each; docs/schema/ ships them, and tests validate every output against
them. The schema version changes when a field is removed or changes its meaning.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..reasoning.assessment import Assessment, KnowledgeBaseStamp

SCHEMA_VERSION = "1.0"
SCHEMA_ID = "https://cup-triage.invalid/schema/{kind}/" + SCHEMA_VERSION


def software_version() -> str:
    """The version of cup-triage, as installed (`cup_triage.__version__`, which
    tests/test_startup.py keeps equal to the installed metadata and to pyproject.toml)."""
    from .. import __version__

    return __version__


class _Output(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class ConditionCode(_Output):
    """What every assessment is about: a cancer whose primary is not known (ICD-10 C80)."""

    system: Literal["ICD-10"] = "ICD-10"
    code: str
    display: str


class HistologyCode(_Output):
    """The case's histology with its ICD-O-3 morphology code (None if the vocabulary has none)."""

    id: str
    label: str
    icd_o3_morphology: str | None


class TheoryRanking(_Output):
    """A ranking from one theory's rules only (`rank --theories`): seed and soil, drainage,
    or both (kind null), as (primary, probability) pairs, most likely first."""

    title: str
    kind: str | None
    ranking: list[tuple[str, float]]


class AssessedCase(_Output):
    """One assessment in a document, with the codes of what was assessed."""

    condition: ConditionCode
    histology: HistologyCode | None = None
    assessment: Assessment
    theories: list[TheoryRanking] | None = None


class AssessmentDocument(_Output):
    """What `rank --json` prints: always this object, for one case or many."""

    schema_version: str = Field(description="Version of this output contract.")
    software_version: str = Field(description="Version of cup-triage that wrote it.")
    knowledge_base: KnowledgeBaseStamp
    assessments: list[AssessedCase]


class ScoreRow(_Output):
    """One row of `score`: a scored case (status ok) or a case that failed (status error).

    Both kinds have the same keys; what an error row cannot know is null (an empty list for
    subsets and red flags). The top-k keys `top1`, `top1_probability`, `top1_icd_o3`,
    `top1_oncotree`, … `topK_…` are described by the schema's patternProperties.
    """

    model_config = ConfigDict(defer_build=True, extra="allow", frozen=True)

    schema_version: str
    software_version: str
    case_id: str | None
    status: Literal["ok", "error"]
    error: str | None
    file: str | None
    other_primary_probability: float | None = Field(
        ge=0, le=1, description="The share for a primary not on the list of candidates."
    )
    subsets: list[str]
    red_flags: list[str]
    confirmed_primary: str | None
    confirmed_rank: int | None = Field(ge=1)
    icd10: str = Field(description="ICD-10 code of the condition assessed (C80, CUP).")
    histology_icd_o3: str | None = Field(description="ICD-O-3 morphology of the histology.")
    kb_version: str
    kb_hash: str
    digest: str | None = Field(
        default=None,
        description="Binds the row to its case, knowledge base and options (for --resume).",
    )


class BatchDocument(_Output):
    """What `score -o OUT.json` writes: the rows of JSON Lines inside one document."""

    schema_version: str
    software_version: str
    knowledge_base: KnowledgeBaseStamp
    rows: list[ScoreRow]


_TOP_K_PROPERTIES = {
    r"^top[1-9][0-9]*$": {"type": ["string", "null"]},
    r"^top[1-9][0-9]*_probability$": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    r"^top[1-9][0-9]*_icd_o3$": {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]
    },
    r"^top[1-9][0-9]*_oncotree$": {"type": ["string", "null"]},
}

KINDS = ("assessment", "row", "batch", "case")


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of one output kind (or of a case file, `case`)."""
    if kind == "assessment":
        schema = AssessmentDocument.model_json_schema()
    elif kind in ("row", "batch"):
        schema = (ScoreRow if kind == "row" else BatchDocument).model_json_schema()
        row = schema if kind == "row" else schema["$defs"]["ScoreRow"]
        row["patternProperties"] = _TOP_K_PROPERTIES
        row["additionalProperties"] = False
    elif kind == "case":
        schema = _case_schema()
    else:
        raise ValueError(f"unknown schema kind {kind!r}; expected {' | '.join(KINDS)}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID.format(kind=kind),
        **schema,
    }


def schema_text(kind: str) -> str:
    """A schema as the shipped file holds it: indented, keys sorted, one final newline."""
    return json.dumps(json_schema(kind), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _case_schema() -> dict[str, Any]:
    """The shape of one case as a file holds it (before ids are checked): the Case model's
    fields, with the forms the loader accepts (lists of present sites, YAML booleans, values)."""
    from ..reasoning.case import LIST_SECTIONS, Case
    from ..reasoning.vocabulary import MULTIPLE_FINDINGS, SECTIONS

    answer = {"type": ["string", "boolean", "null"]}
    properties: dict[str, Any] = {}
    for name, field in Case.model_fields.items():
        if name in LIST_SECTIONS:
            form: dict[str, Any] = {
                "anyOf": [
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "object", "additionalProperties": answer},
                    {"type": "null"},
                ]
            }
        elif name == "labs":
            form = {
                "type": ["object", "null"],
                "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
            }
        elif name in SECTIONS:
            form = {"type": ["object", "null"], "additionalProperties": answer}
        elif name in MULTIPLE_FINDINGS:
            form = {
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "null"},
                ]
            }
        elif name == "id":
            form = {"type": ["string", "integer"]}
        elif name == "age":
            form = {"type": ["integer", "null"], "minimum": 0, "maximum": 120}
        elif name == "notes":
            form = {}
        else:
            form = {"type": ["string", "null"]}
        if field.description:
            form["description"] = field.description
        properties[name] = form
    return {
        "title": "Case",
        "description": "One case of a case file (docs/case-format.md); a file holds one case or "
        "a list of them. Ids and answers are checked against the vocabulary, which "
        "`cup-triage vocab` lists; this schema gives the shape.",
        "type": "object",
        "properties": properties,
        "required": ["id"],
        "additionalProperties": False,
    }
