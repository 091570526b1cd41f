"""A share and the worklist entry it made are linked from the share's side (Share.entry), so
studies needs no foreign key into sharing; both ends still reach each other."""

import pytest
from django.test import TestCase
from django.urls import reverse

from sharing.models import Share
from sharing.services import ShareTarget, study_share
from studies.models import WorklistEntry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_entry_a_share_made_and_the_share_behind_an_entry(owner, worklist, study, cardiology):
    with TestCase.captureOnCommitCallbacks(execute=True):
        study_share(
            actor=owner,
            study=study,
            source_worklist=worklist,
            targets=[ShareTarget(channel="location", key=str(cardiology.public_id))],
        )
    entry = WorklistEntry.objects.get(worklist=cardiology, study=study)
    share = Share.objects.get()
    assert share.entry == entry and entry.share == share
    # The entry outlives its share, and the share its entry, as with the old foreign key.
    share.delete()
    assert WorklistEntry.objects.filter(pk=entry.pk).exists()


def test_admin_pages_of_studies_and_shares_still_render(client, owner, worklist, study, cardiology):
    with TestCase.captureOnCommitCallbacks(execute=True):
        study_share(
            actor=owner,
            study=study,
            source_worklist=worklist,
            targets=[ShareTarget(channel="location", key=str(cardiology.public_id))],
        )
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    assert client.get(reverse("admin:studies_study_change", args=[study.pk])).status_code == 200
    page = client.get(reverse("admin:sharing_share_changelist"))
    assert page.status_code == 200 and "Cardiology" in page.content.decode()
