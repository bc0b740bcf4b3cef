"""The library facade: assess cases from Python (a notebook, a pipeline) without the CLI.

    import cup_triage
    result = cup_triage.assess({"id": "c1", "sex": "male", "sites": ["bone"], "labs": {"psa": 250}})
    result.candidates[0].primary          # 'prostate'

Every function takes an optional `knowledge_base` (from `load_knowledge_base(folder)`); by
default the bundled one is used, loaded and compiled once per process. Cases are a mapping
in the case-file format (docs/case-format.md), a `Case`, or a path to a case file, a FHIR
Bundle or a folder of them. Errors are `CupTriageError`s naming the file, case and field.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import Any

from .io.load import bundled_knowledge_base, iter_cases
from .io.load import load_knowledge_base as _load_knowledge_base
from .io.render import assessment_document
from .reasoning.assessment import Assessment
from .reasoning.case import Case
from .reasoning.case import parse_case as _parse_case
from .reasoning.errors import CaseError, CupTriageError, InputError
from .reasoning.knowledge import KnowledgeBase
from .reasoning.triage import Triage
from .reasoning.vocabulary import Vocabulary

CaseLike = Mapping[str, Any] | Case | str | PathLike[str]
"""What `assess` takes: a case mapping, a `Case`, or the path of a file holding one case."""

__all__ = [
    "CaseLike",
    "assess",
    "assess_many",
    "knowledge_base",
    "load_cases",
    "load_knowledge_base",
    "parse_case",
    "to_document",
    "to_fhir",
    "triage",
    "vocabulary",
]


def knowledge_base() -> KnowledgeBase:
    """The bundled knowledge base (rules, priors, vocabulary), loaded once per process."""
    return bundled_knowledge_base()


def load_knowledge_base(rules_dir: str | PathLike[str]) -> KnowledgeBase:
    """Another knowledge base: a folder laid out like the bundled rules/."""
    return _load_knowledge_base(Path(rules_dir))


def vocabulary(kb: KnowledgeBase | None = None) -> Vocabulary:
    """The ids, labels, answers and codes cases are written in (`cup-triage vocab`)."""
    return (kb or knowledge_base()).vocabulary


@lru_cache(maxsize=4)
def _triage(kb: KnowledgeBase) -> Triage:
    return Triage(kb)


def triage(kb: KnowledgeBase | None = None) -> Triage:
    """The compiled engine for a knowledge base (built once, then reused)."""
    return _triage(kb or knowledge_base())


def parse_case(data: Mapping[str, Any], kb: KnowledgeBase | None = None) -> Case:
    """Validate one case mapping (synonyms and YAML booleans accepted) into a `Case`."""
    return _parse_case(data, vocabulary(kb))


def load_cases(path: str | PathLike[str], kb: KnowledgeBase | None = None) -> list[Case]:
    """Every case of a file or folder (YAML, JSON, CSV, FHIR Bundles); the first invalid one
    raises."""
    cases = []
    for loaded in iter_cases([Path(path)], vocabulary(kb)):
        if loaded.error is not None:
            raise loaded.error
        cases.append(loaded.case)
    return cases


def _as_case(case: CaseLike, kb: KnowledgeBase) -> Case:
    if isinstance(case, Case):
        return case
    if isinstance(case, Mapping):
        return _parse_case(case, kb.vocabulary)
    if isinstance(case, str | PathLike):
        cases = load_cases(case, kb)
        if len(cases) != 1:
            raise InputError(
                f"holds {len(cases)} cases; assess takes one",
                file=str(case),
                hint="use cup_triage.assess_many for a file of several cases",
            )
        return cases[0]
    raise CaseError(
        f"a case is a mapping, a Case or a file path, got {type(case).__name__}",
    )


def assess(
    case: CaseLike, *, knowledge_base: KnowledgeBase | None = None, suggest: bool = True
) -> Assessment:
    """Rank the candidate primaries of one case, with evidence, subsets, red flags, advice.

    Returns the `Assessment` model (`.candidates[0].primary`, `.model_dump()`); `suggest=False`
    skips the next questions and tests (faster).
    """
    kb = knowledge_base or bundled_knowledge_base()
    return triage(kb).assess(_as_case(case, kb), suggest=suggest)


def assess_many(
    cases: Iterable[Mapping[str, Any] | Case] | str | PathLike[str],
    *,
    knowledge_base: KnowledgeBase | None = None,
    suggest: bool = False,
    errors: list[CupTriageError] | None = None,
) -> Iterator[Assessment]:
    """Assess cases one at a time, yielding each assessment as it is made.

    `cases` is an iterable of case mappings or `Case`s, or a path (file or folder). An invalid
    case raises, unless `errors` is a list: then its error is appended and the batch goes on.
    """
    kb = knowledge_base or bundled_knowledge_base()
    engine = triage(kb)
    if isinstance(cases, str | PathLike):
        items: Iterable[Any] = (
            loaded.error or loaded.case for loaded in iter_cases([Path(cases)], kb.vocabulary)
        )
    else:
        items = cases
    for item in items:
        try:
            if isinstance(item, CupTriageError):
                raise item
            case = _as_case(item, kb)
        except CupTriageError as error:
            if errors is None:
                raise
            errors.append(error)
            continue
        yield engine.assess(case, suggest=suggest)


def to_document(
    assessments: Iterable[Assessment], kb: KnowledgeBase | None = None
) -> dict[str, Any]:
    """Assessments as the JSON document `rank --json` prints (`cup-triage schema assessment`)."""
    return assessment_document(assessments, vocabulary(kb))


def to_fhir(
    results: Iterable[tuple[Case, Assessment]], kb: KnowledgeBase | None = None
) -> dict[str, Any]:
    """(case, assessment) pairs as a FHIR R4 RiskAssessment (one) or a Bundle of them."""
    from .io.fhir import risk_assessments

    return risk_assessments(list(results), kb or knowledge_base())
