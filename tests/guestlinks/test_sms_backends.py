"""SMS backends: the file outbox, and Twilio's REST API against a fake server on 127.0.0.1."""

import base64
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ImproperlyConfigured

from notifications.errors import PermanentDeliveryError, TransientDeliveryError
from notifications.sms import send_sms
from notifications.sms_backends import TwilioBackend


class FakeTwilio(BaseHTTPRequestHandler):
    requests: list = []
    reply = (201, {"sid": "SM123", "status": "queued"})

    def do_POST(self):  # noqa: N802 - the http.server API
        length = int(self.headers["Content-Length"])
        body = urllib.parse.parse_qs(self.rfile.read(length).decode())
        FakeTwilio.requests.append(
            {"path": self.path, "auth": self.headers["Authorization"], "form": body}
        )
        status, payload = FakeTwilio.reply
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def twilio(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeTwilio.requests = []
    FakeTwilio.reply = (201, {"sid": "SM123", "status": "queued"})
    settings.SMS_BACKEND = "notifications.sms_backends.TwilioBackend"
    settings.SMS_TWILIO_ACCOUNT_SID = "AC0123"
    settings.SMS_TWILIO_AUTH_TOKEN = "tok-en"
    settings.SMS_TWILIO_FROM = "+441234567890"
    settings.SMS_TWILIO_API_BASE = f"http://127.0.0.1:{server.server_port}"
    yield FakeTwilio
    server.shutdown()
    server.server_close()


def test_outbox_backend_writes_one_file_per_message(settings):
    send_sms("+447911123456", "First")
    send_sms("+447911123457", "Second")
    files = sorted(settings.SMS_OUTBOX_DIR.iterdir())
    assert len(files) == 2
    texts = {path.read_text() for path in files}
    assert texts == {"To: +447911123456\n\nFirst\n", "To: +447911123457\n\nSecond\n"}


def test_twilio_posts_the_message(twilio):
    send_sms("+447911123456", "Images: https://example.org/g/abc/")
    [request] = twilio.requests
    assert request["path"] == "/2010-04-01/Accounts/AC0123/Messages.json"
    assert request["auth"] == "Basic " + base64.b64encode(b"AC0123:tok-en").decode()
    assert request["form"] == {
        "To": ["+447911123456"],
        "From": ["+441234567890"],
        "Body": ["Images: https://example.org/g/abc/"],
    }


def test_twilio_messaging_service_sender(twilio, settings):
    settings.SMS_TWILIO_FROM = "MG0001"
    send_sms("+447911123456", "Hi")
    assert twilio.requests[0]["form"]["MessagingServiceSid"] == ["MG0001"]
    assert "From" not in twilio.requests[0]["form"]


@pytest.mark.parametrize(
    ("status", "transient"), [(400, False), (401, False), (429, True), (503, True)]
)
def test_twilio_errors_say_whether_to_retry(twilio, status, transient):
    twilio.reply = (status, {"code": 21211, "message": "The 'To' number is not valid."})
    expected = TransientDeliveryError if transient else PermanentDeliveryError
    with pytest.raises(expected) as error:
        send_sms("+447911123456", "Hi")
    assert str(status) in str(error.value)
    assert "is not valid" in str(error.value)


def test_twilio_unreachable_is_transient(settings):
    settings.SMS_TWILIO_ACCOUNT_SID = "AC0123"
    settings.SMS_TWILIO_AUTH_TOKEN = "tok-en"
    settings.SMS_TWILIO_FROM = "+441234567890"
    settings.SMS_TWILIO_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(TransientDeliveryError):
        TwilioBackend().send("+447911123456", "Hi")


def test_twilio_needs_its_settings(settings):
    settings.SMS_TWILIO_ACCOUNT_SID = ""
    with pytest.raises(ImproperlyConfigured):
        TwilioBackend().send("+447911123456", "Hi")
    settings.SMS_TWILIO_ACCOUNT_SID = "AC1"
    settings.SMS_TWILIO_AUTH_TOKEN = "t"
    settings.SMS_TWILIO_FROM = "+441234567890"
    settings.SMS_TWILIO_API_BASE = "http://api.example.org"
    with pytest.raises(ImproperlyConfigured):
        TwilioBackend().send("+447911123456", "Hi")
