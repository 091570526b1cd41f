"""Posting a Django admin change form back as a browser would."""

from typing import Any


def admin_form_data(response: Any) -> dict[str, Any]:
    """The change page's form and inlines as a browser posts them unchanged: the options it
    shows that are selected, split date and time fields, each inline's management form."""
    data: dict[str, Any] = {}
    form = response.context["adminform"].form
    for name, field in form.fields.items():
        value = form[name].value()
        if value is None or value is False or field.disabled:
            continue
        widget = getattr(field.widget, "widget", field.widget)  # inside the admin's wrapper
        if hasattr(widget, "widgets"):  # split date and time
            for i, part in enumerate(widget.decompress(value)):
                data[f"{name}_{i}"] = widget.widgets[i].format_value(part)
        elif isinstance(value, list | tuple):
            # A browser can only send the options the page shows.
            shown = {str(pk) for pk in field.queryset.values_list("pk", flat=True)}
            data[name] = [str(v) for v in value if str(v) in shown]
        elif value is True:
            data[name] = "on"
        else:
            data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[f"{formset.prefix}-{name}"] = formset.management_form[name].value()
        for subform in formset.forms:
            for name in subform.fields:
                value = subform[name].value()
                if value is not None and value is not False:
                    data[subform.add_prefix(name)] = value
    return data
