"""QIDO-RS (PS3.18 10.6): search for studies, series and instances, as application/dicom+json.

Matching keys (by keyword or tag): PatientName (with * and ? wildcards, case-insensitive),
PatientID, AccessionNumber, StudyInstanceUID (a list), StudyDate (a date or a range
A-B, A-, -B), ModalitiesInStudy; at series level Modality, SeriesInstanceUID, SeriesNumber;
at instance level SOPInstanceUID, SOPClassUID, InstanceNumber. `limit` (at most 1000),
`offset`, and `includefield` (keywords, tags, or "all") for the optional attributes.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse

from studies.models import Instance, Series, Study

from . import auditing
from .api import DICOM_JSON, BadRequest, api_view
from .scope import Scope

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100

# keyword: (tag, VR)
TAGS: dict[str, tuple[str, str]] = {
    "StudyDate": ("00080020", "DA"),
    "StudyTime": ("00080030", "TM"),
    "AccessionNumber": ("00080050", "SH"),
    "ModalitiesInStudy": ("00080061", "CS"),
    "ReferringPhysicianName": ("00080090", "PN"),
    "StudyDescription": ("00081030", "LO"),
    "RetrieveURL": ("00081190", "UR"),
    "PatientName": ("00100010", "PN"),
    "PatientID": ("00100020", "LO"),
    "IssuerOfPatientID": ("00100021", "LO"),
    "PatientBirthDate": ("00100030", "DA"),
    "PatientSex": ("00100040", "CS"),
    "StudyInstanceUID": ("0020000D", "UI"),
    "StudyID": ("00200010", "SH"),
    "NumberOfStudyRelatedSeries": ("00201206", "IS"),
    "NumberOfStudyRelatedInstances": ("00201208", "IS"),
    "Modality": ("00080060", "CS"),
    "SeriesInstanceUID": ("0020000E", "UI"),
    "SeriesNumber": ("00200011", "IS"),
    "SeriesDescription": ("0008103E", "LO"),
    "BodyPartExamined": ("00180015", "CS"),
    "NumberOfSeriesRelatedInstances": ("00201209", "IS"),
    "SOPClassUID": ("00080016", "UI"),
    "SOPInstanceUID": ("00080018", "UI"),
    "InstanceNumber": ("00200013", "IS"),
    "Rows": ("00280010", "US"),
    "Columns": ("00280011", "US"),
    "NumberOfFrames": ("00280008", "IS"),
    "AvailableTransferSyntaxUID": ("00083002", "UI"),
}
BY_TAG = {tag: keyword for keyword, (tag, _) in TAGS.items()}

STUDY_OPTIONAL = {"PatientBirthDate", "PatientSex", "IssuerOfPatientID", "StudyID"}
SERIES_OPTIONAL = {"BodyPartExamined"}
INSTANCE_OPTIONAL = {"AvailableTransferSyntaxUID"}
NOT_MATCHING = {"limit", "offset", "includefield", "fuzzymatching"}


def keyword_of(name: str) -> str:
    """A query parameter's attribute keyword, from a keyword or a tag (case of hex ignored)."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        keyword = BY_TAG.get(name.upper())
        if keyword is None:
            raise BadRequest(f"Attribute {name} is not supported in a search here.")
        return keyword
    if name not in TAGS:
        raise BadRequest(f"{name} is not an attribute that can be searched or returned here.")
    return name


def element(vr: str, value: Any) -> dict[str, Any]:
    if value is None or value == "" or value == []:
        return {"vr": vr}
    values = value if isinstance(value, list) else [value]
    if vr == "PN":
        values = [{"Alphabetic": v} for v in values]
    elif vr == "DA":
        values = [v.strftime("%Y%m%d") for v in values]
    elif vr == "TM":
        values = [v.strftime("%H%M%S") for v in values]
    return {"vr": vr, "Value": values}


def _include(request: HttpRequest, optional: set[str]) -> set[str]:
    included: set[str] = set()
    for value in request.GET.getlist("includefield"):
        for name in value.split(","):
            name = name.strip()
            if name == "all":
                included |= optional
            elif name:
                included.add(keyword_of(name))
    return included & optional


def _page(request: HttpRequest) -> tuple[int, int]:
    try:
        limit = int(request.GET.get("limit", DEFAULT_LIMIT))
        offset = int(request.GET.get("offset", 0))
    except ValueError:
        raise BadRequest("limit and offset must be whole numbers.") from None
    if limit < 1 or offset < 0:
        raise BadRequest("limit must be at least 1 and offset at least 0.")
    return min(limit, MAX_LIMIT), offset


def _wildcard(value: str) -> str:
    """A DICOM wildcard (* any run, ? one character) as an anchored regular expression."""
    return (
        "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value) + "$"
    )


def _date(value: str) -> datetime.date:
    try:
        return datetime.datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise BadRequest(f"{value!r} is not a date as YYYYMMDD.") from None


def _date_range(field: str, value: str) -> Q:
    value = value.replace(".", "")  # tolerate the old YYYY.MM.DD form
    if "-" in value:
        start, _, end = value.partition("-")
        q = Q()
        if start:
            q &= Q(**{f"{field}__gte": _date(start)})
        if end:
            q &= Q(**{f"{field}__lte": _date(end)})
        return q
    return Q(**{field: _date(value)})


def _uids(field: str, value: str) -> Q:
    uids = [uid.strip() for uid in re.split(r"[,\\]", value) if uid.strip()]
    return Q(**{f"{field}__in": uids})


def _text_match(field: str, value: str) -> Q:
    if "*" in value or "?" in value:
        return Q(**{f"{field}__iregex": _wildcard(value)})
    return Q(**{f"{field}__iexact": value})


def _integer(field: str, value: str) -> Q:
    try:
        return Q(**{field: int(value)})
    except ValueError:
        raise BadRequest(f"{value!r} is not a whole number.") from None


def _modalities(field: str, value: str) -> Q:
    q = Q(pk__in=[])
    for modality in re.split(r"[,\\]", value):
        if modality.strip():
            q |= Q(**{f"{field}__iregex": rf"(^| ){re.escape(modality.strip())}( |$)"})
    return q


Matcher = Callable[[str], Q]

STUDY_MATCHING: dict[str, Matcher] = {
    "PatientName": lambda v: _text_match("patient_name", v),
    "PatientID": lambda v: _text_match("patient_id", v),
    "AccessionNumber": lambda v: _text_match("accession_number", v),
    "StudyInstanceUID": lambda v: _uids("study_instance_uid", v),
    "StudyDate": lambda v: _date_range("study_date", v),
    "ModalitiesInStudy": lambda v: _modalities("modalities_in_study", v),
    "StudyDescription": lambda v: _text_match("study_description", v),
}
SERIES_MATCHING: dict[str, Matcher] = {
    "Modality": lambda v: _text_match("modality", v),
    "SeriesInstanceUID": lambda v: _uids("series_instance_uid", v),
    "SeriesNumber": lambda v: _integer("series_number", v),
}
INSTANCE_MATCHING: dict[str, Matcher] = {
    "SOPInstanceUID": lambda v: _uids("sop_instance_uid", v),
    "SOPClassUID": lambda v: _uids("sop_class_uid", v),
    "InstanceNumber": lambda v: _integer("instance_number", v),
}


def _filtered(request: HttpRequest, queryset: QuerySet, matching: dict[str, Matcher]) -> QuerySet:
    for name, values in request.GET.lists():
        if name in NOT_MATCHING:
            continue
        keyword = keyword_of(name)
        matcher = matching.get(keyword)
        if matcher is None:
            raise BadRequest(f"{keyword} cannot be matched at this level.")
        for value in values:
            if value.strip():
                queryset = queryset.filter(matcher(value.strip()))
    return queryset


def _answer(results: list[dict[str, Any]]) -> HttpResponse:
    return HttpResponse(json.dumps(results), content_type=DICOM_JSON)


def _put(result: dict[str, Any], keyword: str, value: Any) -> None:
    tag, vr = TAGS[keyword]
    result[tag] = element(vr, value)


def study_json(scope: Scope, study: Study, include: set[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    _put(result, "StudyDate", study.study_date)
    _put(result, "StudyTime", study.study_time)
    _put(result, "AccessionNumber", study.accession_number)
    _put(result, "ModalitiesInStudy", study.modalities)
    _put(result, "ReferringPhysicianName", study.referring_physician_name)
    _put(result, "StudyDescription", study.study_description)
    _put(result, "RetrieveURL", scope.url("studies", study.study_instance_uid))
    _put(result, "PatientName", study.patient_name)
    _put(result, "PatientID", study.patient_id)
    _put(result, "StudyInstanceUID", study.study_instance_uid)
    _put(result, "NumberOfStudyRelatedSeries", study.number_of_series)
    _put(result, "NumberOfStudyRelatedInstances", study.number_of_instances)
    optional = {
        "PatientBirthDate": study.patient_birth_date,
        "PatientSex": study.patient_sex,
        "IssuerOfPatientID": study.issuer_of_patient_id,
        "StudyID": study.study_id,
    }
    for keyword in include:
        _put(result, keyword, optional[keyword])
    return dict(sorted(result.items()))


def series_json(scope: Scope, series: Series, include: set[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    study_uid = series.study.study_instance_uid
    _put(result, "Modality", series.modality)
    _put(result, "SeriesInstanceUID", series.series_instance_uid)
    _put(result, "SeriesNumber", series.series_number)
    _put(result, "SeriesDescription", series.series_description)
    _put(result, "StudyInstanceUID", study_uid)
    _put(result, "NumberOfSeriesRelatedInstances", series.number_of_instances)
    _put(
        result,
        "RetrieveURL",
        scope.url("studies", study_uid, "series", series.series_instance_uid),
    )
    if "BodyPartExamined" in include:
        _put(result, "BodyPartExamined", series.body_part_examined)
    return dict(sorted(result.items()))


def instance_json(scope: Scope, instance: Instance, include: set[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    series = instance.series
    study_uid = series.study.study_instance_uid
    _put(result, "SOPClassUID", instance.sop_class_uid)
    _put(result, "SOPInstanceUID", instance.sop_instance_uid)
    _put(result, "InstanceNumber", instance.instance_number)
    _put(result, "Rows", instance.rows)
    _put(result, "Columns", instance.columns)
    _put(result, "NumberOfFrames", instance.number_of_frames)
    _put(result, "StudyInstanceUID", study_uid)
    _put(result, "SeriesInstanceUID", series.series_instance_uid)
    _put(
        result,
        "RetrieveURL",
        scope.url(
            "studies",
            study_uid,
            "series",
            series.series_instance_uid,
            "instances",
            instance.sop_instance_uid,
        ),
    )
    if "AvailableTransferSyntaxUID" in include:
        _put(result, "AvailableTransferSyntaxUID", instance.transfer_syntax_uid)
    return dict(sorted(result.items()))


@api_view(audit=auditing.QUERY)
def search_studies(request: HttpRequest, scope: Scope) -> HttpResponse:
    limit, offset = _page(request)
    include = _include(request, STUDY_OPTIONAL)
    studies = _filtered(request, scope.studies(), STUDY_MATCHING).order_by(
        "-study_date", "-study_time", "-id"
    )
    return _answer([study_json(scope, s, include) for s in studies[offset : offset + limit]])


@api_view(audit=auditing.QUERY)
def search_series(request: HttpRequest, scope: Scope, study: str) -> HttpResponse:
    limit, offset = _page(request)
    include = _include(request, SERIES_OPTIONAL)
    queryset = Series.objects.filter(study=scope.study(study)).select_related("study")
    series = _filtered(request, queryset, SERIES_MATCHING).order_by("series_number", "id")
    return _answer([series_json(scope, s, include) for s in series[offset : offset + limit]])


@api_view(audit=auditing.QUERY)
def search_instances(request: HttpRequest, scope: Scope, study: str, series: str) -> HttpResponse:
    limit, offset = _page(request)
    include = _include(request, INSTANCE_OPTIONAL)
    queryset = Instance.objects.filter(series=scope.series(study, series)).select_related(
        "series__study"
    )
    instances = _filtered(request, queryset, INSTANCE_MATCHING).order_by(
        "instance_number", "slice_location", "id"
    )
    return _answer([instance_json(scope, i, include) for i in instances[offset : offset + limit]])
