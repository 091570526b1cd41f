"""The URL converter of link tokens (guest /g/<token>/, upload /u/<token>/)."""

from django.urls import register_converter

from .models import TOKEN_LENGTH


class TokenConverter:
    regex = f"[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(TokenConverter, "linktoken")
