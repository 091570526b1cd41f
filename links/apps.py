from django.apps import AppConfig


class LinksConfig(AppConfig):
    """The one bearer-link gate that guest links and upload links are built on."""

    name = "links"
