"""The upload-link invitation's delivery check (registered for "uploadlink_invite"): see
links.delivery."""

from links.delivery import link_delivery

from .models import UploadLink

uploadlink_delivery = link_delivery(UploadLink, noun="upload link", url_name="uploadlink_url")
