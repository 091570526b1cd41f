"""The printable handout of a guest link: what the recipient reads on paper, with the link's
URL as a QR code (inline SVG markup, so the page needs no script, image request or inline
style under the strict CSP). Never the password: the sheet may be lost or read by others."""

from typing import Any

import segno
from django.utils.safestring import SafeString, mark_safe

from notifications.links import absolute_url

from .models import GuestLink


def qr_svg(text: str, *, title: str) -> SafeString:
    """`text` as a QR code in SVG markup (error correction M: survives a crease or a smudge).

    segno writes the markup itself from the encoded modules and escapes the title, so
    nothing of `text` reaches the page as markup.
    """
    code = segno.make(text, error="m", micro=False)
    svg = code.svg_inline(scale=4, border=4, omitsize=True, title=title, svgclass="qr-code")
    return mark_safe(svg)  # noqa: S308  (segno's own markup; the title is escaped by segno)


def handout_context(link: GuestLink, *, back: str) -> dict[str, Any]:
    creator = link.created_by
    organisation = creator.organisation if creator is not None else None
    context: dict[str, Any] = {
        "link": link,
        "back": back,
        "sender": creator.display_name if creator is not None else "",
        "organisation": organisation.name if organisation is not None else "",
        "usable": link.is_usable,
    }
    if link.is_usable:  # a link that no longer opens gets no URL to print
        url = absolute_url(link.get_absolute_url())
        context["url"] = url
        context["qr"] = qr_svg(url, title="QR code of the link to the images")
    return context
