"""Loops around the reasoning core: the interview and the teaching mode.

They keep no private copy of the reasoning: every ranking comes from ``reasoning.triage``.
They read no file and print nothing (prompting is injected). They may import
``reasoning``; never ``io`` or ``cli``.
"""
