from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Any number of uploaded files, passed on as they are.

    Empty or odd files are not a form error: the ingest reports each one with its reason.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        items = data if isinstance(data, list | tuple) else [data]
        return [item for item in items if isinstance(item, UploadedFile)]


class StudyUploadForm(forms.Form):
    dicom_files = MultipleFileField(
        label="DICOM files or zip archives",
        help_text="Choose any number of DICOM files and zip archives of them.",
    )
    folder = MultipleFileField(
        label="Or a whole folder",
        help_text="For example a CD or a USB stick; every file in it and its subfolders is read.",
        widget=MultipleFileInput(attrs={"webkitdirectory": True}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("dicom_files") and not cleaned.get("folder"):
            raise forms.ValidationError("Choose at least one file, zip archive or folder.")
        return cleaned

    def uploads(self) -> list[tuple[str, UploadedFile]]:
        """(display name, file) for the ingest service."""
        chosen = [*self.cleaned_data["dicom_files"], *self.cleaned_data["folder"]]
        return [(upload.name or "upload", upload) for upload in chosen]
