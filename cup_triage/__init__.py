"""cup-triage: rule-based triage for cancer of unknown primary.

Decision support for triage and teaching, not a diagnosis.
"""

__version__ = "0.1.0"
