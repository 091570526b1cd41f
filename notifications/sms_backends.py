import logging

from .errors import PermanentDeliveryError, TransientDeliveryError

logger = logging.getLogger(__name__)


class ConsoleBackend:
    """Development: says that an SMS went out, without its text (it holds a link token)."""

    def send(self, to: str, text: str) -> None:
        logger.info("SMS to %s…: %d characters", to[:4], len(text))


class OutboxBackend:
    """Development and tests: one file per message under SMS_OUTBOX_DIR (like the email outbox)."""

    def send(self, to: str, text: str) -> None:
        import uuid
        from datetime import UTC, datetime
        from pathlib import Path

        from django.conf import settings

        directory = Path(settings.SMS_OUTBOX_DIR)
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = directory / f"{stamp}-{uuid.uuid4().hex[:12]}.txt"
        path.write_text(f"To: {to}\n\n{text}\n", encoding="utf-8")


class TwilioBackend:
    """Twilio's Programmable Messaging REST API over HTTPS (urllib; no SDK needed).

    Settings: SMS_TWILIO_ACCOUNT_SID, SMS_TWILIO_AUTH_TOKEN, SMS_TWILIO_FROM (an E.164 number or
    a Messaging Service SID starting "MG"), SMS_TWILIO_API_BASE (tests point it at a local server).
    """

    timeout = 15

    def send(self, to: str, text: str) -> None:
        import base64
        import json
        import urllib.error
        import urllib.parse
        import urllib.request

        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        sid = settings.SMS_TWILIO_ACCOUNT_SID
        auth_token = settings.SMS_TWILIO_AUTH_TOKEN
        sender = settings.SMS_TWILIO_FROM
        if not (sid and auth_token and sender):
            raise ImproperlyConfigured(
                "TwilioBackend needs SMS_TWILIO_ACCOUNT_SID, SMS_TWILIO_AUTH_TOKEN and "
                "SMS_TWILIO_FROM."
            )
        base = settings.SMS_TWILIO_API_BASE.rstrip("/")
        if not base.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ImproperlyConfigured("SMS_TWILIO_API_BASE must be an https:// URL.")
        url = f"{base}/2010-04-01/Accounts/{urllib.parse.quote(sid)}/Messages.json"
        fields = {"To": to, "Body": text}
        fields["MessagingServiceSid" if sender.startswith("MG") else "From"] = sender
        credentials = base64.b64encode(f"{sid}:{auth_token}".encode()).decode("ascii")
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url,
            data=urllib.parse.urlencode(fields).encode(),
            headers={
                "Authorization": f"Basic {credentials}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            detail = ""
            try:
                detail = str(json.loads(error.read() or b"{}").get("message", ""))[:200]
            except ValueError:
                pass
            # HTTP, unlike SMTP: 429 and 5xx may pass later; any other 4xx never will.
            failure = (
                TransientDeliveryError
                if error.code == 429 or error.code >= 500
                else PermanentDeliveryError
            )
            raise failure(f"Twilio refused the SMS ({error.code}): {detail}") from error
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise TransientDeliveryError(f"Twilio unreachable: {error}") from error
        logger.info("SMS to %s… accepted by Twilio (%s)", to[:4], body.get("sid", "?"))
