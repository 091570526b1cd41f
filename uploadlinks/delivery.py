"""The upload-link invitation's delivery check (registered for "uploadlink_invite"): see
links.delivery."""

from audit.models import AuditEvent
from links.delivery import link_delivery, link_delivery_recorder

from .models import UploadLink

uploadlink_delivery = link_delivery(UploadLink, noun="upload link", url_name="uploadlink_url")
uploadlink_delivered = link_delivery_recorder(
    UploadLink, action=AuditEvent.Action.UPLOADLINK_DELIVERED
)
