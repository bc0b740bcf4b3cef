"""Hypothesis strategies that generate valid cases from the bundled vocabulary."""

from hypothesis import strategies as st

from cup_triage.io.load import bundled_knowledge_base

VOCABULARY = bundled_knowledge_base().vocabulary


def _possible(sex, section):
    """Finding ids whose positive answer a patient of this sex can have."""
    return [
        finding
        for finding in VOCABULARY.ids_in(section)
        if VOCABULARY.findings[f"{section}.{finding}"].sex in (None, sex)
    ]


def _section(name, sex):
    yes, no = VOCABULARY.answers_of(name)
    possible = set(_possible(sex, name))
    return st.dictionaries(
        st.sampled_from(VOCABULARY.ids_in(name)), st.sampled_from([yes, no]), max_size=8
    ).map(lambda answers: {f: a for f, a in answers.items() if a == no or f in possible})


@st.composite
def case_data(draw):
    """A valid case mapping with a random subset of findings answered.

    The patient has a sex even when the case does not say it, so that no finding or primary
    only the other sex can have is drawn (that would be a contradiction, not a valid case).
    """
    sex = draw(st.sampled_from(list(VOCABULARY.findings["sex"].answers)))
    primaries = [p.id for p in VOCABULARY.primaries.values() if p.sex in (None, sex)]
    data = {"id": draw(st.from_regex(r"[a-z]{1,6}-[0-9]{1,4}", fullmatch=True))}
    optional = {
        "sex": st.just(sex),
        "age": st.integers(min_value=15, max_value=95),
        "sites": st.lists(st.sampled_from(_possible(sex, "sites")), max_size=4, unique=True),
        "histology": st.sampled_from(list(VOCABULARY.histologies)),
        "features": st.lists(st.sampled_from(_possible(sex, "features")), max_size=2, unique=True),
        "markers": _section("markers", sex),
        "labs": _section("labs", sex),
        "imaging": _section("imaging", sex),
        "history": _section("history", sex),
        "prior_cancer": st.sampled_from([*primaries, "none"]),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            data[key] = draw(strategy)
    return data
