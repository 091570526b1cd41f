"""The DICOMweb API's URLs, once under /dicomweb/ (all the caller may see) and once under
/dicomweb/worklists/{share_code}/ (one worklist)."""

from django.urls import path, register_converter

from . import qido, stow, wado
from .metadata import PATH_REGEX


class BulkDataPathConverter:
    """A bulk data path: a tag, or sequence/item/tag (dicomweb.metadata)."""

    regex = PATH_REGEX

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(BulkDataPathConverter, "bulkpath")

STUDY = "studies/<uid:study>"
SERIES = f"{STUDY}/series/<uid:series>"
INSTANCE = f"{SERIES}/instances/<uid:instance>"


def api_patterns(prefix: str, name: str) -> list:  # type: ignore[type-arg]
    return [
        path(f"{prefix}studies", qido.search_studies, name=f"{name}search_studies"),
        path(f"{prefix}{STUDY}", wado.retrieve_study, name=f"{name}retrieve_study"),
        path(f"{prefix}{STUDY}/metadata", wado.study_metadata, name=f"{name}study_metadata"),
        path(f"{prefix}{STUDY}/series", qido.search_series, name=f"{name}search_series"),
        path(f"{prefix}{SERIES}", wado.retrieve_series, name=f"{name}retrieve_series"),
        path(f"{prefix}{SERIES}/metadata", wado.series_metadata, name=f"{name}series_metadata"),
        path(f"{prefix}{SERIES}/instances", qido.search_instances, name=f"{name}search_instances"),
        path(f"{prefix}{INSTANCE}", wado.retrieve_instance, name=f"{name}retrieve_instance"),
        path(
            f"{prefix}{INSTANCE}/metadata",
            wado.instance_metadata,
            name=f"{name}instance_metadata",
        ),
        path(
            f"{prefix}{INSTANCE}/bulkdata/<bulkpath:path>",
            wado.retrieve_bulkdata,
            name=f"{name}retrieve_bulkdata",
        ),
        path(
            f"{prefix}{INSTANCE}/frames/<str:numbers>",
            wado.retrieve_frames,
            name=f"{name}retrieve_frames",
        ),
    ]


# STOW-RS has a worklist to store into: only under a worklist's root.
urlpatterns = [
    path("worklists/<str:share_code>/studies", stow.store_or_search, name="worklist_studies"),
    *api_patterns("worklists/<str:share_code>/", "worklist_"),
    *api_patterns("", ""),
]
