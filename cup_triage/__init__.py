"""cup-triage: rule-based triage for cancer of unknown primary (decision support, not a diagnosis)."""

__version__ = "0.1.0"
