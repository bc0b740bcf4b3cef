"""cup-triage: rule-based triage for cancer of unknown primary.

Decision support for triage and teaching, not a diagnosis.

    import cup_triage
    assessment = cup_triage.assess({"id": "c1", "sites": ["liver"], "histology": "adenocarcinoma"})

The library functions live in `cup_triage.api` and are loaded on first use, so that
`import cup_triage` stays cheap (the engine is compiled only when a case is assessed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = (
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
)
_MODELS = {
    "Assessment": "cup_triage.reasoning.assessment",
    "Case": "cup_triage.reasoning.case",
    "KnowledgeBase": "cup_triage.reasoning.knowledge",
    "Vocabulary": "cup_triage.reasoning.vocabulary",
    "CupTriageError": "cup_triage.reasoning.errors",
    "CaseError": "cup_triage.reasoning.errors",
    "InputError": "cup_triage.reasoning.errors",
}

__all__ = ["__version__", *_API, *_MODELS]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from .api import (  # noqa: F401
        assess,
        assess_many,
        knowledge_base,
        load_cases,
        load_knowledge_base,
        parse_case,
        to_document,
        to_fhir,
        triage,
        vocabulary,
    )
    from .reasoning.assessment import Assessment  # noqa: F401
    from .reasoning.case import Case  # noqa: F401
    from .reasoning.errors import CaseError, CupTriageError, InputError  # noqa: F401
    from .reasoning.knowledge import KnowledgeBase  # noqa: F401
    from .reasoning.vocabulary import Vocabulary  # noqa: F401


def __getattr__(name: str) -> Any:
    import importlib

    if name in _API:
        value = getattr(importlib.import_module("cup_triage.api"), name)
    elif name in _MODELS:
        value = getattr(importlib.import_module(_MODELS[name]), name)
    else:
        raise AttributeError(f"module 'cup_triage' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
