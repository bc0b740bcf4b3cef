"""Hypothesis strategies that generate valid cases from the bundled vocabulary."""

from hypothesis import settings
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
    ).map(
        lambda answers: {
            f: a
            for f, a in answers.items()
            if f in possible or (a == no and not VOCABULARY.findings[f"{name}.{f}"].sex_any_answer)
        }
    )


def _lab_answer(finding_id, sex):
    """A lab answer: elevated | normal, or a value (a number, or a string with a unit) where the
    test takes one; a test only the other sex can have is never raised."""
    finding = VOCABULARY.findings[f"labs.{finding_id}"]
    raised, normal = finding.answers
    possible = finding.sex in (None, sex)
    answers = [raised, normal] if possible else [normal]
    if not finding.is_measured:
        return st.sampled_from(answers)
    top = finding.upper_limit * (20 if possible else 0.99)
    number = st.floats(min_value=0, max_value=top, allow_nan=False).map(lambda v: round(v, 3))
    with_unit = st.tuples(number, st.sampled_from(finding.accepted_units)).map(
        lambda pair: f"{pair[0] / _factor(finding, pair[1])!r} {pair[1]}"
    )
    return st.one_of(st.sampled_from(answers), number, with_unit)


def _factor(finding, unit):
    return 1.0 if unit == finding.unit else finding.units[unit]


def _labs(sex):
    return st.lists(st.sampled_from(VOCABULARY.ids_in("labs")), max_size=6, unique=True).flatmap(
        lambda ids: st.fixed_dictionaries({i: _lab_answer(i, sex) for i in ids})
    )


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
        "labs": _labs(sex),
        "molecular": _section("molecular", sex),
        "imaging": _section("imaging", sex),
        "workup": _section("workup", sex),
        "history": _section("history", sex),
        "prior_cancer": st.one_of(
            st.sampled_from([*primaries, "none"]),
            st.lists(st.sampled_from(primaries), max_size=3, unique=True),
        ),
        "tissue_of_origin": st.sampled_from(primaries),
        "pathology_favours": st.one_of(
            st.sampled_from(primaries),
            st.lists(st.sampled_from(primaries), max_size=3, unique=True),
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            data[key] = draw(strategy)
    return data


def examples(in_ci: int) -> int:
    """Examples for a property test: all of them under CI=true, the loaded profile's share of
    hypothesis's 100 otherwise (a tenth in the default run, which a developer runs often; see
    tests/conftest.py). The examples are derandomised, so each run draws the same ones."""
    return max(5, round(in_ci * settings.default.max_examples / 100))
