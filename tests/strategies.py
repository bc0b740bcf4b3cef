"""Hypothesis strategies that generate valid cases from the bundled vocabulary."""

from hypothesis import strategies as st

from cup_triage.load import bundled_knowledge_base

VOCABULARY = bundled_knowledge_base().vocabulary


def _section(name):
    ids = VOCABULARY.ids_in(name)
    answers = list(VOCABULARY.answers_of(name))
    return st.dictionaries(st.sampled_from(ids), st.sampled_from(answers), max_size=8)


@st.composite
def case_data(draw):
    """A valid case mapping with a random subset of findings answered."""
    data = {"id": draw(st.from_regex(r"[a-z]{1,6}-[0-9]{1,4}", fullmatch=True))}
    optional = {
        "sex": st.sampled_from(list(VOCABULARY.findings["sex"].answers)),
        "age": st.integers(min_value=15, max_value=95),
        "sites": st.lists(st.sampled_from(VOCABULARY.ids_in("sites")), max_size=4, unique=True),
        "histology": st.sampled_from(list(VOCABULARY.histologies)),
        "features": st.lists(st.sampled_from(VOCABULARY.ids_in("features")), max_size=2, unique=True),
        "markers": _section("markers"),
        "labs": _section("labs"),
        "imaging": _section("imaging"),
        "history": _section("history"),
        "prior_cancer": st.sampled_from([*VOCABULARY.primaries, "none"]),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            data[key] = draw(strategy)
    return data
