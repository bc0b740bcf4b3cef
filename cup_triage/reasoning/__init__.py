"""The reasoning core: from a Case to an Assessment.

Holds the vocabulary, the case model, the knowledge base and its lint, the experta engine,
ranking, question selection and the triage entry point. It reads no file and prints
nothing: models in, models out. It imports only itself, pydantic and (in ``engine`` alone)
experta; nothing from ``sessions``, ``io`` or ``cli``.
"""
