from django import forms

from .selectors import SORTS

MODALITIES = ["CT", "MR", "CR", "DX", "US", "MG", "NM", "PT", "XA", "RF", "OT"]


class StudySearchForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name, patient ID, accession or text"}
        ),
    )
    modality = forms.ChoiceField(
        label="Modality", required=False, choices=[("", "Any")] + [(m, m) for m in MODALITIES]
    )
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    sort = forms.ChoiceField(
        label="Sort",
        required=False,
        choices=[
            ("date", "Newest study first"),
            ("-date", "Oldest study first"),
            ("name", "Patient name A–Z"),
            ("-name", "Patient name Z–A"),
            ("added", "Recently added"),
        ],
    )

    def active_filters(self) -> int:
        """How many filters the request sets (a sort other than the default counts too)."""
        return sum(
            1
            for name in self.fields
            if self.data.get(name) and not (name == "sort" and self.data[name] == "date")
        )

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        if cleaned.get("sort") and cleaned["sort"] not in SORTS:
            self.add_error("sort", "Unknown sort order.")
        return cleaned
