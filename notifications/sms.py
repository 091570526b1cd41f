"""SMS delivery through a backend chosen in settings (SMS_BACKEND)."""

from django.conf import settings
from django.utils.module_loading import import_string


def send_sms(to: str, text: str) -> None:
    backend = import_string(settings.SMS_BACKEND)  # its default: cimar_share/settings.py
    backend().send(to, text)
