"""An email backend for tests that fails as told, then delivers to Django's locmem outbox."""

from django.core.mail.backends.locmem import EmailBackend


class ScriptedBackend(EmailBackend):
    """Raises the queued exceptions one send at a time, then delivers normally."""

    failures: list[BaseException] = []
    attempts = 0

    def send_messages(self, messages):  # type: ignore[no-untyped-def]
        type(self).attempts += 1
        if type(self).failures:
            raise type(self).failures.pop(0)
        return super().send_messages(messages)
