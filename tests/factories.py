"""factory_boy factories and small builders shared by every test module."""

import datetime
import functools
import hashlib
import io

import factory
import numpy as np
import pydicom
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from pydicom.dataset import Dataset

from accounts.models import Organisation, Partnership
from accounts.registry import user_created
from demo.phantom import ct_phantom
from studies.models import Instance, Series, Study, WorklistEntry
from testkit.dicom_files import dataset, to_bytes
from worklists import services as worklist_services
from worklists.models import PRODUCT_PERMISSION_CODENAMES, Role, Worklist, product_permissions

PASSWORD = "correct-horse-battery"


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed once per run: an Argon2 hash at its real cost is most of the time a test
    user takes to make, and logging in still checks it the real way."""
    return make_password(PASSWORD)


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Hospital {n}")
    time_zone = "Europe/London"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    organisation = factory.SubFactory(OrganisationFactory)
    password = factory.LazyFunction(password_hash)  # PASSWORD, already hashed

    @factory.post_generation
    def personal_worklist(user, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        """What accounts.services.user_create does after saving: the apps above accounts
        finish the user (a personal worklist); idempotent, so a user fetched again is fine."""
        if create:
            user_created(user)


class WorklistFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Worklist

    organisation = factory.SubFactory(OrganisationFactory)
    kind = Worklist.Kind.LOCATION
    name = factory.Sequence(lambda n: f"Ward {n}")


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study

    study_instance_uid = factory.Sequence(lambda n: f"1.2.826.0.1.3680043.10.1.{n}")
    patient_name = factory.Sequence(lambda n: f"Doe^Jane{n}")
    patient_id = factory.Sequence(lambda n: f"PID{n:05d}")
    patient_birth_date = datetime.date(1970, 5, 17)
    patient_sex = "F"
    study_date = datetime.date(2024, 3, 1)
    study_description = "CT chest"
    accession_number = factory.Sequence(lambda n: f"ACC{n:06d}")
    modalities_in_study = "CT"
    number_of_series = 1
    number_of_instances = 1


class SeriesFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Series

    study = factory.SubFactory(StudyFactory)
    series_instance_uid = factory.Sequence(lambda n: f"1.2.826.0.1.3680043.10.2.{n}")
    modality = "CT"
    series_number = 1
    series_description = "Axial"
    number_of_instances = 1


class InstanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Instance

    series = factory.SubFactory(SeriesFactory)
    sop_instance_uid = factory.Sequence(lambda n: f"1.2.826.0.1.3680043.10.3.{n}")
    instance_number = 1
    rows = 64
    columns = 64
    file = factory.django.FileField(filename="x.dcm", data=b"not used by metadata tests")


def role_with(*codenames: str, name: str | None = None) -> Role:
    """A role holding exactly these product permissions (all of them when none are given)."""
    codenames = codenames or tuple(PRODUCT_PERMISSION_CODENAMES)
    name = name or "+".join(sorted(codenames))
    if len(name) > 100:  # Role.name is varchar(100); PostgreSQL enforces it
        name = f"{name[:87]}~{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    role, _ = Role.objects.get_or_create(name=name)
    role.permissions.set(product_permissions().filter(codename__in=codenames))
    worklist_services.role_sync_permissions(role=role)
    return role


def grant(user, worklist: Worklist, *codenames: str) -> None:  # type: ignore[no-untyped-def]
    """Make `user` a member of `worklist` with a role holding these permissions."""
    worklist_services.membership_grant(
        actor=None, user=user, worklist=worklist, role=role_with(*codenames)
    )


def add_to_worklist(study: Study, worklist: Worklist, **kwargs) -> WorklistEntry:  # type: ignore[no-untyped-def]
    return WorklistEntry.objects.get_or_create(worklist=worklist, study=study, defaults=kwargs)[0]


def partnership(from_organisation: Organisation, to_organisation: Organisation) -> Partnership:
    return Partnership.objects.get_or_create(
        from_organisation=from_organisation, to_organisation=to_organisation
    )[0]


def instance_for(ds: Dataset | bytes, *, series=None, study=None, **kwargs):  # type: ignore[no-untyped-def]
    """An Instance row whose file (saved through the storage API) holds this data set."""
    data = ds if isinstance(ds, bytes) else to_bytes(ds)
    parsed = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    if series is None:
        series = SeriesFactory(**({"study": study} if study is not None else {}))
    return InstanceFactory(
        series=series,
        sop_instance_uid=kwargs.pop("sop_instance_uid", None) or str(parsed.SOPInstanceUID),
        rows=parsed.get("Rows"),
        columns=parsed.get("Columns"),
        number_of_frames=int(parsed.get("NumberOfFrames", 1) or 1),
        transfer_syntax_uid=str(parsed.file_meta.TransferSyntaxUID),
        photometric_interpretation=str(parsed.get("PhotometricInterpretation", "")),
        file__data=data,
        file_size=len(data),
        **kwargs,
    )


def ct_series(study, *, slices: int = 5, size: int = 64, number: int = 1, **series_kwargs):  # type: ignore[no-untyped-def]
    """A CT series of `slices` single-frame instances (a disc that grows slice by slice)."""
    series = SeriesFactory(
        study=study,
        modality="CT",
        series_number=number,
        number_of_instances=slices,
        **series_kwargs,
    )
    for k in range(slices):
        radius = size * (0.15 + 0.3 * k / max(slices - 1, 1))
        # Texture, so that windows show differences.
        hu = ct_phantom(size, body_radius=radius, body_hu=60, texture_hu=40)
        ds = dataset(
            (hu + 1024).astype(np.int64),
            bits_stored=12,
            signed=True,
            RescaleIntercept=-1024,
            RescaleSlope=1,
            WindowCenter=40,
            WindowWidth=400,
            InstanceNumber=k + 1,
        )
        instance_for(ds, series=series, instance_number=k + 1, window_center=40, window_width=400)
    return series
