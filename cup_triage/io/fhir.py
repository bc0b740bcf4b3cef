"""FHIR R4 in and out: a Bundle becomes a case; an assessment becomes a RiskAssessment.

The code mappings are data (rules/fhir_codes.yaml). A Bundle is checked with fhir.resources
(its R4B models, which read R4 resources) and then read resource by resource: the Patient
gives sex and age, Conditions give metastatic sites (mCODE SecondaryCancerCondition), earlier
cancers and the histology, Observations give serum markers (LOINC, with value and unit or an
interpretation), stains and any other finding. Whatever cannot be mapped is an error naming
the resource: `Bundle b1 › Observation/obs-3 › code: LOINC 12345-6 is not mapped`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..reasoning.assessment import Assessment
from ..reasoning.case import Case, parse_case
from ..reasoning.errors import CaseError, InputError, KnowledgeError
from ..reasoning.knowledge import KnowledgeBase
from ..reasoning.vocabulary import SECTIONS, Vocabulary
from .formats import Record
from .load import FHIR_CODES_FILE, bundled_rules_dir, read_data_file
from .schema import software_version

EVIDENCE_SHOWN = 3
"""Rules named in each prediction's rationale, for and against."""


class _Codes(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    version: str
    systems: dict[str, str | list[str]]
    histology_extension: str
    histology_observation: dict[str, list[str]]
    secondary_neoplasm: dict[str, list[str]]
    sites: dict[str, dict[str, list[str]]]
    cup_condition: dict[str, list[str]]
    earlier_cancers: dict[str, list[str]]
    labs: dict[str, list[str]]
    markers: dict[str, list[str]]
    answers: dict[str, list[dict[str, str]]]
    ignored_resources: list[str]


class CodeMap:
    """rules/fhir_codes.yaml as lookups: (system name, code) -> what it means."""

    def __init__(self, data: _Codes) -> None:
        self.data = data
        self.system_names: dict[str, str] = {}
        for name, urls in data.systems.items():
            for url in [urls] if isinstance(urls, str) else urls:
                self.system_names[url] = name
        self.secondary = {("snomed", c) for c in data.secondary_neoplasm.get("snomed", ())}
        self.secondary_icd10 = tuple(data.secondary_neoplasm.get("icd10", ()))
        self.site_by_body: dict[str, str] = {}
        self.site_by_disorder: dict[str, str] = {}
        for site, codes in data.sites.items():
            for code in codes.get("body_site", ()):
                self.site_by_body[code] = site
            for code in codes.get("disorder", ()):
                self.site_by_disorder[code] = site
        self.earlier = sorted(
            (
                (prefix, primary)
                for primary, codes in data.earlier_cancers.items()
                for prefix in codes
            ),
            key=lambda item: -len(item[0]),
        )
        self.labs = {code: lab for lab, codes in data.labs.items() for code in codes}
        self.markers = {code: marker for marker, codes in data.markers.items() for code in codes}
        self.answers: dict[tuple[str, str], set[str]] = {}
        for answer, codings in data.answers.items():
            for coding in codings:
                for system, code in coding.items():
                    self.answers.setdefault((system, code), set()).add(answer)

    def url(self, name: str) -> str:
        urls = self.data.systems[name]
        return urls if isinstance(urls, str) else urls[0]

    def earlier_cancer(self, icd10: str) -> str | None:
        for prefix, primary in self.earlier:
            if icd10 == prefix or icd10.startswith(prefix + ".") or icd10.startswith(prefix):
                return primary
        return None


@lru_cache(maxsize=4)
def code_map(rules_dir: str | None = None) -> CodeMap:
    """The code mappings of a rules folder (the bundled one by default)."""
    from pathlib import Path

    folder = Path(rules_dir) if rules_dir else bundled_rules_dir()
    path = folder / FHIR_CODES_FILE
    if not path.is_file():
        path = bundled_rules_dir() / FHIR_CODES_FILE
    try:
        return CodeMap(_Codes.model_validate(read_data_file(path)))
    except ValidationError as exc:
        message = f"invalid FHIR code mappings: {exc.errors()[0]['msg']}"
        raise KnowledgeError(message, file=str(path)) from exc


# ---------------------------------------------------------------------------------- reading


def bundle_records(
    data: Mapping[str, Any], vocabulary: Vocabulary
) -> Iterator[Record | InputError]:
    """The case of one FHIR Bundle (JSON already parsed), or the error naming the resource."""
    try:
        case = bundle_case(data, vocabulary)
    except InputError as error:
        yield error
        return
    yield Record(case)


def _validated_bundle(data: Mapping[str, Any]) -> None:
    from fhir.resources.R4B.bundle import Bundle

    if data.get("resourceType") != "Bundle":
        raise InputError(
            f"a FHIR resource of type {data.get('resourceType')!r}; expected a Bundle",
            hint="send the patient's resources in one Bundle (type collection)",
        )
    try:
        Bundle.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"not a valid FHIR R4 Bundle: {where}: {first['msg']}",
            hint=f"{exc.error_count() - 1} more problem(s)" if exc.error_count() > 1 else None,
        ) from None


class _Reader:
    """Turns the resources of one Bundle into a case mapping, remembering which resource gave
    each field (so that an invalid answer names its resource)."""

    def __init__(self, bundle: Mapping[str, Any], vocabulary: Vocabulary, codes: CodeMap):
        self.bundle = bundle
        self.vocabulary = vocabulary
        self.codes = codes
        self.name = f"Bundle {bundle.get('id')}" if bundle.get("id") else "Bundle"
        self.case: dict[str, Any] = {}
        self.origin: dict[str, str] = {}
        self.dates: list[str] = []
        self.birth_date: str | None = None
        self.patient_id: str | None = None
        self.patient_url: str | None = None
        self.subjects: list[tuple[Mapping[str, Any], str]] = []

    def fail(self, resource: Mapping[str, Any], element: str, message: str, hint=None):
        reference = f"{resource.get('resourceType')}/{resource.get('id', '?')}"
        return InputError(f"{message}", field=f"{self.name} › {reference} › {element}", hint=hint)

    def set(self, resource: Mapping[str, Any], section: str, key: str | None, value: Any):
        reference = f"{resource.get('resourceType')}/{resource.get('id', '?')}"
        name = section if key is None else f"{section}.{key}"
        earlier = self.case.get(section) if key is None else self.case.get(section, {}).get(key)
        if name in self.origin and earlier != value:
            # Two resources for one finding (a repeated lab, a site confirmed and refuted):
            # keeping either one would silently drop the other.
            raise self.fail(
                resource,
                "value",
                f"{name} is {value!r} here but {earlier!r} in {self.origin[name]}",
                hint="one value per finding: leave out the resource that no longer holds",
            )
        if key is None:
            self.case[section] = value
            self.origin[section] = reference
        else:
            self.case.setdefault(section, {})[key] = value
            self.origin[f"{section}.{key}"] = reference

    def codings(self, concept: Mapping[str, Any] | None) -> list[tuple[str, str, str]]:
        """(system name, code, display) of a CodeableConcept; unknown systems by their URL."""
        found = []
        for coding in (concept or {}).get("coding", ()) or ():
            system = self.codes.system_names.get(coding.get("system", ""), coding.get("system", ""))
            found.append((system, str(coding.get("code", "")), coding.get("display", "")))
        return found

    def read(self) -> dict[str, Any]:
        for number, entry in enumerate(self.bundle.get("entry") or (), 1):
            resource = entry.get("resource") or {}
            kind = resource.get("resourceType")
            reference = ((resource.get("subject") or {}) if kind != "Patient" else {}).get(
                "reference"
            )
            if reference:
                self.subjects.append((resource, str(reference)))
            if kind == "Patient":
                self.patient(resource)
                self.patient_url = entry.get("fullUrl")
            elif kind == "Condition":
                self.condition(resource)
            elif kind == "Observation":
                self.observation(resource)
            elif kind not in self.codes.data.ignored_resources:
                raise self.fail(
                    resource,
                    "resourceType",
                    f"a {kind} resource (entry {number}) carries no finding cup-triage reads",
                    hint="send Patient, Condition and Observation resources",
                )
        self._one_subject()
        if self.birth_date and "age" not in self.case:
            on = self.assessment_date()
            self.case["age"] = _age(self.birth_date, on)
            if self.case["age"] < 0:
                raise self.fail(
                    {"resourceType": "Patient", "id": self.patient_id},
                    "birthDate",
                    f"born {self.birth_date}, after the assessment date {on.isoformat()}",
                    hint="the age is counted at the Bundle's timestamp (else its latest "
                    "observation)",
                )
        identifier = (self.bundle.get("identifier") or {}).get("value")
        self.case["id"] = identifier or self.bundle.get("id") or self.patient_id or "fhir-bundle"
        if "sites" in self.case:
            # A Bundle lists the metastases it knows; no Condition for a site is not a "no".
            self.case["sites"] = dict(self.case["sites"])
        return self.case

    def _one_subject(self) -> None:
        """Every finding must be about the Bundle's patient: a Condition or Observation whose
        subject is another patient would silently become this patient's finding."""
        if self.patient_id is not None:
            own = {f"Patient/{self.patient_id}", self.patient_url}
            whose = f"Patient/{self.patient_id}"
        elif self.subjects:
            own, whose = {self.subjects[0][1]}, self.subjects[0][1]
        else:
            return
        for resource, reference in self.subjects:
            if reference not in own and not reference.endswith(f"/{whose}"):
                raise self.fail(
                    resource,
                    "subject",
                    f"the subject is {reference!r}, not this Bundle's patient ({whose})",
                    hint="a Bundle holds one patient's case: send each patient's resources "
                    "in a Bundle of their own",
                )

    def assessment_date(self) -> date:
        stamp = self.bundle.get("timestamp") or max(self.dates, default=None)
        return date.fromisoformat(stamp[:10]) if stamp else date.today()

    def patient(self, resource: Mapping[str, Any]) -> None:
        if self.patient_id is not None:
            raise self.fail(resource, "id", "a second Patient: a Bundle holds one patient's case")
        self.patient_id = resource.get("id")
        gender = resource.get("gender")
        if gender in ("female", "male"):
            self.set(resource, "sex", None, gender)
        elif gender not in (None, "other", "unknown"):
            # administrative-gender is a required binding: any other code is not a sex that
            # may be left unknown without a word, it is a broken export.
            raise self.fail(
                resource,
                "gender",
                f"expected female | male | other | unknown, got {gender!r}",
                hint="other and unknown leave the sex unknown",
            )
        if resource.get("birthDate"):
            self.birth_date = str(resource["birthDate"])

    def condition(self, resource: Mapping[str, Any]) -> None:
        codings = self.codings(resource.get("code"))
        self._dated(resource, "recordedDate", "onsetDateTime")
        self._histology_extension(resource)
        if (
            any((s, c) in self.codes.secondary for s, c, _ in codings)
            or any(s == "snomed" and c in self.codes.site_by_disorder for s, c, _ in codings)
            or any(s == "icd10" and c.startswith(self.codes.secondary_icd10) for s, c, _ in codings)
        ):
            self._metastasis(resource, codings)
            return
        if any(
            s == "icd10" and c.startswith(tuple(self.codes.data.cup_condition["icd10"]))
            for s, c, _ in codings
        ):
            return  # the CUP itself: its histology was read above
        for system, code, _ in codings:
            if system == "icd10" and (primary := self.codes.earlier_cancer(code)):
                earlier = self.case.setdefault("prior_cancer", [])
                if primary not in earlier:
                    earlier.append(primary)
                self.origin["prior_cancer"] = f"Condition/{resource.get('id', '?')}"
                return
            if system == "finding":
                self._finding(resource, code, resource)
                return
        raise self.fail(
            resource,
            "code",
            f"{_shown(codings)} is not mapped",
            hint=f"metastases, earlier cancers (ICD-10) and the CUP (C80) are read; "
            f"see {FHIR_CODES_FILE}",
        )

    def _metastasis(self, resource: Mapping[str, Any], codings) -> None:
        sites = {
            self.codes.site_by_disorder[c]
            for s, c, _ in codings
            if s == "snomed" and c in self.codes.site_by_disorder
        }
        for body in resource.get("bodySite") or ():
            for system, code, _ in self.codings(body):
                if system == "snomed" and code in self.codes.site_by_body:
                    sites.add(self.codes.site_by_body[code])
                elif system == "finding" and code.startswith("sites."):
                    sites.add(code.removeprefix("sites."))
                else:
                    raise self.fail(
                        resource,
                        "bodySite",
                        f"{_shown([(system, code, '')])} is not a mapped body site",
                    )
        if not sites:
            raise self.fail(
                resource,
                "bodySite",
                "a metastasis without a site",
                hint="give bodySite or a site-specific secondary-neoplasm code",
            )
        status = resource.get("verificationStatus") or {}
        refuted = any(c == "refuted" for _, c, _ in self.codings(status))
        for site in sorted(sites):
            self.set(resource, "sites", site, "no" if refuted else "yes")

    def _histology_extension(self, resource: Mapping[str, Any]) -> None:
        for extension in resource.get("extension") or ():
            if extension.get("url") == self.codes.data.histology_extension:
                self._histology(resource, extension.get("valueCodeableConcept"))

    def _histology(self, resource: Mapping[str, Any], concept: Mapping[str, Any] | None) -> None:
        by_morphology = {
            h.icd_o3_morphology: h.id
            for h in self.vocabulary.histologies.values()
            if getattr(h, "icd_o3_morphology", None)
        }
        for system, code, _ in self.codings(concept):
            if system == "icd_o3" and code in by_morphology:
                self.set(resource, "histology", None, by_morphology[code])
                return
            if system == "finding" and code.startswith("histology."):
                self.set(resource, "histology", None, code.removeprefix("histology."))
                return
        raise self.fail(
            resource,
            "histology",
            f"{_shown(self.codings(concept))} is not a mapped histology",
            hint="use the ICD-O-3 morphology codes of `cup-triage vocab histology`",
        )

    def observation(self, resource: Mapping[str, Any]) -> None:
        self._dated(resource, "effectiveDateTime", "issued")
        codings = self.codings(resource.get("code"))
        for system, code, _ in codings:
            if system == "loinc" and code in self.codes.data.histology_observation.get("loinc", ()):
                self._histology(resource, resource.get("valueCodeableConcept"))
                return
            if system == "loinc" and code in self.codes.labs:
                self._lab(resource, self.codes.labs[code])
                return
            if system == "loinc" and code in self.codes.markers:
                self._answer(resource, "markers", self.codes.markers[code])
                return
            if system == "finding":
                self._finding(resource, code, resource)
                return
        raise self.fail(
            resource,
            "code",
            f"{_shown(codings)} is not mapped",
            hint=f"serum markers by LOINC, other findings by the code system "
            f"{self.codes.url('finding')} (see {FHIR_CODES_FILE})",
        )

    def _finding(self, resource: Mapping[str, Any], key: str, source) -> None:
        section, _, finding = key.partition(".")
        if key == "pathology_favours":
            # A report may favour several primaries together ("a Mullerian primary"): one
            # Observation each, gathered like the earlier cancers.
            favoured = self.case.setdefault(key, [])
            value = _plain_value(resource)
            if value not in favoured:
                favoured.append(value)
            self.origin[key] = f"{resource.get('resourceType')}/{resource.get('id', '?')}"
            return
        if key in ("sex", "age", "histology", "tissue_of_origin", "prior_cancer"):
            value = _plain_value(resource)
            self.set(resource, key, None, value)
            return
        if section not in SECTIONS or not finding:
            raise self.fail(
                resource,
                "code",
                f"{key!r} is not a finding key",
                hint="codes of this system are finding keys such as markers.ck7",
            )
        if section == "labs":
            self._lab(resource, finding)
        else:
            self._answer(resource, section, finding)

    def _lab(self, resource: Mapping[str, Any], lab: str) -> None:
        quantity = resource.get("valueQuantity")
        if quantity and quantity.get("value") is not None:
            unit = str(quantity.get("unit") or quantity.get("code") or "")
            unit = unit.replace("[", "").replace("]", "")
            value = f"{quantity['value']} {unit}".strip()
            comparator = quantity.get("comparator")
            if comparator and not resource.get("interpretation"):
                # "< 400 ng/mL" read as 400 would be a raised PSA that may be 1.
                raise self.fail(
                    resource,
                    "valueQuantity",
                    f"the value is a bound ({comparator} {value}), not a measured value",
                    hint="give the measured value, or an interpretation (H, N) saying whether "
                    "it is raised",
                )
            if not comparator:
                self.set(resource, "labs", lab, value)
                return
        self._answer(resource, "labs", lab)

    def _answer(self, resource: Mapping[str, Any], section: str, finding: str) -> None:
        allowed = self.vocabulary.answers_of(section)
        value = _plain_value(resource)
        candidates: set[str] = set()
        for concept in [
            resource.get("valueCodeableConcept"),
            *(resource.get("interpretation") or ()),
        ]:
            for system, code, _ in self.codings(concept):
                candidates |= self.codes.answers.get((system, code), set())
        answer = next((a for a in allowed if a in candidates), None)
        if answer is None and value is not None:
            answer = value
        if answer is None:
            raise self.fail(
                resource,
                "value",
                "no value cup-triage can read",
                hint=f"give valueCodeableConcept, valueString or interpretation "
                f"({' | '.join(allowed)})",
            )
        self.set(resource, section, finding, answer)

    def _dated(self, resource: Mapping[str, Any], *elements: str) -> None:
        for element in elements:
            if resource.get(element):
                self.dates.append(str(resource[element]))
                return


def _plain_value(resource: Mapping[str, Any]) -> Any:
    if "valueBoolean" in resource:
        return "yes" if resource["valueBoolean"] else "no"
    if "valueString" in resource:
        return resource["valueString"]
    if "valueInteger" in resource:
        return resource["valueInteger"]
    concept = resource.get("valueCodeableConcept")
    if concept and concept.get("text"):
        return concept["text"]
    return None


def _shown(codings: Sequence[tuple[str, str, str]]) -> str:
    if not codings:
        return "a resource with no coded value"
    system, code, _ = codings[0]
    names = {"loinc": "LOINC", "snomed": "SNOMED CT", "icd10": "ICD-10", "icd_o3": "ICD-O-3"}
    return f"{names.get(system, system)} {code}"


def _age(birth: str, on: date) -> int:
    born = date.fromisoformat(birth[:10] if len(birth) >= 10 else f"{birth[:4]}-07-01")
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def bundle_case(data: Mapping[str, Any], vocabulary: Vocabulary, codes: CodeMap | None = None):
    """The case mapping of one Bundle (what a case file would hold), checked: an invalid
    answer is an error naming the resource it came from."""
    _validated_bundle(data)
    reader = _Reader(data, vocabulary, codes or code_map())
    case = reader.read()
    try:
        parse_case(case, vocabulary)
    except CaseError as error:
        origin = reader.origin.get(error.field or "") or reader.origin.get(
            (error.field or "").partition("[")[0]
        )
        if origin:
            error.field = f"{reader.name} › {origin} › {error.field}"
        raise error.located(case=case["id"]) from None
    return case


# ---------------------------------------------------------------------------------- writing


def risk_assessment(
    case: Case, assessment: Assessment, kb: KnowledgeBase, codes: CodeMap | None = None
) -> dict[str, Any]:
    """A FHIR R4 RiskAssessment: one prediction per candidate primary (probabilityDecimal,
    outcome coded with ICD-O-3 topography and OncoTree), the rules that fired as notes."""
    codes = codes or code_map()
    vocabulary = kb.vocabulary
    condition = vocabulary.condition
    predictions = []
    for candidate in assessment.candidates:
        coding = [
            {"system": codes.url("icd_o3"), "code": code}
            for code in candidate.icd_o3
            if "-" not in code
        ]
        coding.append({"system": codes.url("oncotree"), "code": candidate.oncotree})
        prediction: dict[str, Any] = {
            "outcome": {
                "coding": coding,
                "text": f"{candidate.label} primary (ICD-O-3 {', '.join(candidate.icd_o3)})",
            },
            "probabilityDecimal": candidate.probability,
        }
        rationale = _rationale(candidate)
        if rationale:
            prediction["rationale"] = rationale
        predictions.append(prediction)
    other = getattr(assessment, "other_primary", None)
    if other is not None:
        # The share for a primary not on the list, so that the predictions add up to one.
        predictions.append(
            {"outcome": {"text": other.label}, "probabilityDecimal": other.probability}
        )
    fired = [f"{f.rule_id} ({f.kind}): {f.conditions}" for f in assessment.fired if f.counted]
    notes = [{"text": assessment.disclaimer}]
    if fired:
        notes.append({"text": "Evidence (rules that fired and were counted): " + "; ".join(fired)})
    resource: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "id": _fhir_id(f"cup-triage-{case.id}"),
        "status": "final",
        "subject": {"display": f"case {case.id}"},
        "code": {
            "coding": [
                {
                    "system": codes.url("icd10"),
                    "code": condition.icd10,
                    "display": condition.icd10_display,
                }
            ]
            if condition
            else [],
            "text": "Likely primary site of a cancer of unknown primary",
        },
        "method": {
            "text": f"cup-triage {software_version()}, knowledge base "
            f"{assessment.knowledge_base.version} ({assessment.knowledge_base.hash}): prior × "
            "likelihood ratios of the rules that fired"
        },
        "prediction": predictions,
        "note": notes,
    }
    from fhir.resources.R4B.riskassessment import RiskAssessment

    RiskAssessment.model_validate(resource)  # what is written is valid FHIR R4
    return resource


def _rationale(candidate) -> str:
    parts = []
    for title, items in (("for", candidate.evidence_for), ("against", candidate.evidence_against)):
        if items:
            shown = ", ".join(
                f"{c.rule_id} ×{c.likelihood_ratio:.3g}" for c in items[:EVIDENCE_SHOWN]
            )
            parts.append(f"{title}: {shown}")
    return "; ".join(parts)


def _fhir_id(text: str) -> str:
    """A FHIR id: letters, digits, '-' and '.', at most 64 characters."""
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-.") else "-" for ch in text)
    return cleaned[:64]


def risk_assessments(
    results: Sequence[tuple[Case, Assessment]], kb: KnowledgeBase
) -> dict[str, Any]:
    """One RiskAssessment for one case, a Bundle (type collection) of them for several."""
    resources = [risk_assessment(case, assessment, kb) for case, assessment in results]
    if len(resources) == 1:
        return resources[0]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:cup-triage:RiskAssessment/{r['id']}", "resource": r}
            for r in resources
        ],
    }
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)
    return bundle
