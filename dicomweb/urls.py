"""DICOMweb resources under /dicomweb/ (PS3.18): rendered frames, thumbnails, metadata."""

from django.urls import path, register_converter

from . import frame_values
from . import views as dicomweb


class UIDConverter:
    """A DICOM UID: digits and dots, at most 64 characters."""

    regex = r"[0-9][0-9.]{0,63}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(UIDConverter, "uid")

from .api_urls import urlpatterns as api_urlpatterns  # noqa: E402 (needs the converter)

app_name = "dicomweb"

INSTANCE = "studies/<uid:study>/series/<uid:series>/instances/<uid:instance>"

urlpatterns = [
    path(
        "studies/<uid:study>/series/<uid:series>/thumbnail",
        dicomweb.series_thumbnail,
        name="series_thumbnail",
    ),
    path(f"{INSTANCE}/rendered", dicomweb.instance_rendered, name="instance_rendered"),
    path(f"{INSTANCE}/thumbnail", dicomweb.instance_thumbnail, name="instance_thumbnail"),
    path(f"{INSTANCE}/frames/<int:frame>/rendered", dicomweb.frame_rendered, name="frame_rendered"),
    path(
        f"{INSTANCE}/frames/<int:frame>/thumbnail", dicomweb.frame_thumbnail, name="frame_thumbnail"
    ),
    path(f"{INSTANCE}/frames/<int:frame>/values", frame_values.frame_values, name="frame_values"),
    # QIDO-RS, WADO-RS and STOW-RS (after the resources above, which keep their views).
    *api_urlpatterns,
]
