from django.apps import AppConfig


class UploadlinksConfig(AppConfig):
    name = "uploadlinks"
