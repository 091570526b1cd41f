"""Synthetic but realistic DICOM studies for the demo and for tests (pydicom + numpy, no ORM).

    from demo.synthetic import Patient, write_study
    paths = write_study(tmp_path, patient=Patient("Doe^Jane", "P001", date(1970, 5, 17), "F"),
                        study_date=date(2024, 3, 1), modality="CT", kind="chest",
                        series_count=2, slices=30, size=256)

Each call writes one study: `series_count` axial series of `slices` images each, as
`folder/S<series>/IM<instance>.dcm`, and returns the paths in series and slice order.

Kinds: CT "chest" (body, fat, muscle, lungs with vessels, heart, aorta, spine, ribs), CT "head"
and MR "brain" (scalp, skull with diploe, grey and white matter, ventricles, orbits at the
base). The images carry correct geometry (ImagePositionPatient, ImageOrientationPatient,
PixelSpacing, SliceThickness, SliceLocation, a shared FrameOfReferenceUID), CT in Hounsfield
units through RescaleSlope/Intercept with multi-valued window presets, MR with windows taken
from the image, PatientBirthDate, the proper SOP classes, Explicit VR Little Endian and a file
meta header. `lesion_mm` adds a finding (a lung nodule, a haemorrhage, a FLAIR lesion) so that
priors made with a smaller one show progression. Give `uid_key` to make every UID (and the
noise) deterministic: writing the same arguments twice gives the same study.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
)

__all__ = ["KINDS", "Patient", "study_uid", "write_study"]


@dataclass(frozen=True)
class Patient:
    name: str  # DICOM person name, Family^Given
    patient_id: str
    birth_date: dt.date
    sex: str = "O"  # F, M or O
    issuer: str = "CIMAR-DEMO"


DEFAULT_PATIENT = Patient("Synthetic^Sam", "SYN0001", dt.date(1970, 5, 17), "O")

# (modality, kind) -> what the series of one study are, in order. Each series is
# (description, CT kernel or MR sequence, window presets as ((centre, width, name), ...) or None).
Windows = tuple[tuple[int, int, str], ...] | None
_SERIES: dict[tuple[str, str], list[tuple[str, str, Windows]]] = {
    ("CT", "chest"): [
        ("Axial 5mm mediastinum", "soft", ((40, 400, "MEDIASTINUM"), (-600, 1500, "LUNG"))),
        ("Axial 5mm lung", "lung", ((-600, 1500, "LUNG"), (40, 400, "MEDIASTINUM"))),
        ("Axial 5mm bone", "bone", ((500, 2000, "BONE"), (40, 400, "MEDIASTINUM"))),
        ("Axial 5mm soft tissue (late)", "soft", ((50, 350, "SOFT TISSUE"),)),
    ],
    ("CT", "head"): [
        ("Axial 5mm brain", "brain", ((40, 80, "BRAIN"), (600, 2800, "BONE"))),
        ("Axial 5mm bone", "bone", ((600, 2800, "BONE"), (40, 80, "BRAIN"))),
        ("Axial 5mm subdural", "brain", ((75, 215, "SUBDURAL"),)),
        ("Axial 5mm stroke", "brain", ((32, 8, "STROKE"), (40, 80, "BRAIN"))),
    ],
    ("MR", "brain"): [
        ("Ax T2 TSE", "T2", None),
        ("Ax T1 SE", "T1", None),
        ("Ax T2 FLAIR", "FLAIR", None),
        ("Ax DWI b1000", "DWI", None),
    ],
}
KINDS = tuple(_SERIES)

_BODY = {  # field of view (mm), slice spacing (mm), body part, study description
    "chest": (380.0, 5.0, "CHEST", "CT chest with contrast"),
    "head": (240.0, 5.0, "HEAD", "CT head without contrast"),
    "brain": (240.0, 5.0, "BRAIN", "MRI brain"),
}

# MR signal of each tissue per sequence (arbitrary units, 12-bit range).
_MR_SIGNAL = {
    #         air, fat/scalp, skull, marrow, grey, white, csf, lesion, eye
    "T1": (0, 1500, 60, 1100, 780, 1000, 260, 620, 300),
    "T2": (0, 1100, 40, 600, 1050, 780, 2100, 1700, 2000),
    "FLAIR": (0, 900, 40, 500, 950, 720, 180, 1800, 200),
    "DWI": (0, 120, 10, 60, 420, 360, 150, 900, 140),
}
_MR_TIMING = {  # repetition, echo, inversion time (ms), scanning sequence
    "T1": (550.0, 12.0, None, "SE"),
    "T2": (4500.0, 100.0, None, "SE"),
    "FLAIR": (9000.0, 120.0, 2500.0, ["SE", "IR"]),
    "DWI": (5000.0, 90.0, None, "EP"),
}


def write_study(
    folder: str | Path,
    *,
    patient: Patient = DEFAULT_PATIENT,
    study_date: dt.date = dt.date(2024, 3, 1),
    modality: str = "CT",
    kind: str = "chest",
    series_count: int = 1,
    slices: int = 3,
    size: int | Sequence[int] = 64,
    study_time: dt.time = dt.time(9, 30),
    description: str | None = None,
    accession_number: str | None = None,
    referring_physician: str = "Hart^Imogen^^Dr",
    lesion_mm: float = 0.0,
    uid_key: str | None = None,
) -> list[Path]:
    """Write one synthetic study into `folder` and return the file paths.

    `size` is the matrix (rows = columns) of every series, or one size per series (e.g.
    `(512, 256)` for a high-resolution first series). `uid_key` makes the output deterministic.
    """
    modality = modality.upper()
    kind = "brain" if (modality, kind) == ("MR", "head") else kind
    if (modality, kind) not in _SERIES:
        raise ValueError(f"Unknown study kind {modality} {kind}; choose from {KINDS}.")
    protocols = _SERIES[(modality, kind)]
    if not 1 <= series_count <= len(protocols):
        raise ValueError(f"series_count must be 1-{len(protocols)} for {modality} {kind}.")
    if slices < 1:
        raise ValueError("slices must be at least 1.")
    sizes = [size] * series_count if isinstance(size, int) else list(size)
    if len(sizes) != series_count or min(sizes) < 16:
        raise ValueError("Give one size (at least 16) or one per series.")

    key = uid_key or uuid.uuid4().hex
    uid = _uid_maker(key)
    fov, spacing, body_part, default_description = _BODY[kind]
    study = _study_dataset(
        patient=patient,
        study_date=study_date,
        study_time=study_time,
        description=description or default_description,
        accession_number=accession_number or f"ACC{_digits(key, 7)}",
        referring_physician=referring_physician,
        study_instance_uid=uid("study"),
        study_id=_digits(key, 5),
    )
    frame_of_reference = uid("frame-of-reference")
    rng = np.random.default_rng(int(_digits(key + "noise", 12)))
    anatomy = _Anatomy(kind, rng)
    folder = Path(folder)
    paths: list[Path] = []
    # Slices run head to feet around the middle of the scanned region: z from +top down.
    top = (slices - 1) * spacing / 2
    for number, ((series_description, flavour, windows), matrix) in enumerate(
        zip(protocols, sizes, strict=False), start=1
    ):
        series_folder = folder / f"S{number}"
        series_folder.mkdir(parents=True, exist_ok=True)
        series_uid = uid(f"series-{number}")
        pixel_spacing = fov / matrix
        for index in range(slices):
            z = top - index * spacing
            ds = _copy(study)
            ds.SeriesInstanceUID = series_uid
            ds.SeriesNumber = number
            ds.SeriesDescription = series_description
            ds.ProtocolName = f"{default_description} {series_description}"
            ds.BodyPartExamined = body_part
            ds.Modality = modality
            ds.SeriesDate = ds.StudyDate
            ds.SeriesTime = ds.StudyTime
            ds.FrameOfReferenceUID = frame_of_reference
            ds.PositionReferenceIndicator = ""
            ds.PatientPosition = "HFS"
            ds.SOPInstanceUID = uid(f"series-{number}-image-{index + 1}")
            ds.InstanceNumber = index + 1
            ds.AcquisitionNumber = 1
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
            ds.ImagePositionPatient = [
                _ds(-(matrix - 1) / 2 * pixel_spacing),
                _ds(-(matrix - 1) / 2 * pixel_spacing),
                _ds(z),
            ]
            ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
            ds.PixelSpacing = [_ds(pixel_spacing), _ds(pixel_spacing)]
            ds.SliceThickness = _ds(spacing)
            ds.SpacingBetweenSlices = _ds(spacing)
            ds.SliceLocation = _ds(z)
            x = (np.arange(matrix) - (matrix - 1) / 2) * pixel_spacing
            zn = z / max(top, spacing) if slices > 1 else 0.0  # -1 (feet) .. +1 (head)
            labels = anatomy.slice(x, zn, lesion_mm)
            if modality == "CT":
                _ct_pixels(ds, labels, flavour, windows or ((40, 400, "SOFT TISSUE"),), rng)
            else:
                _mr_pixels(ds, labels, flavour, x, rng)
            path = series_folder / f"IM{index + 1:04d}.dcm"
            _save(ds, path)
            paths.append(path)
    return paths


def study_uid(uid_key: str) -> str:
    """The StudyInstanceUID that `write_study(..., uid_key=uid_key)` writes."""
    return _uid_maker(uid_key)("study")


# ---------------------------------------------------------------------------- datasets


_UID_NAMESPACE = uuid.UUID("8f0b6a52-3c1e-5d4a-9b7e-2f6c1d0e4a93")


def _uid_maker(key: str):  # type: ignore[no-untyped-def]
    """UUID-derived UIDs (2.25.<128-bit integer>, DICOM PS3.5 B.2), the same for the same key."""

    def uid(part: str) -> str:
        return f"2.25.{uuid.uuid5(_UID_NAMESPACE, f'{key}/{part}').int}"

    return uid


def _digits(key: str, count: int) -> str:
    return str(int(hashlib.sha256(key.encode()).hexdigest(), 16))[:count]


def _ds(value: float) -> str:
    """A decimal string (DS) value: at most 16 characters."""
    return f"{value:.6g}"


def _age(birth: dt.date, on: dt.date) -> str:
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return f"{max(years, 0):03d}Y"


def _study_dataset(
    *,
    patient: Patient,
    study_date: dt.date,
    study_time: dt.time,
    description: str,
    accession_number: str,
    referring_physician: str,
    study_instance_uid: str,
    study_id: str,
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.IssuerOfPatientID = patient.issuer
    ds.PatientBirthDate = patient.birth_date.strftime("%Y%m%d")
    ds.PatientSex = patient.sex
    ds.PatientAge = _age(patient.birth_date, study_date)
    ds.StudyInstanceUID = study_instance_uid
    ds.StudyDate = study_date.strftime("%Y%m%d")
    ds.StudyTime = study_time.strftime("%H%M%S")
    ds.ContentDate = ds.StudyDate
    ds.ContentTime = ds.StudyTime
    ds.StudyDescription = description
    ds.AccessionNumber = accession_number
    ds.ReferringPhysicianName = referring_physician
    ds.StudyID = study_id
    ds.Manufacturer = "Cimar Synthetic"
    ds.ManufacturerModelName = "Phantom 1"
    ds.InstitutionName = "Cimar Demo Hospital"
    return ds


def _copy(template: Dataset) -> Dataset:
    ds = Dataset()
    ds.update(template)
    return ds


def _save(ds: Dataset, path: Path) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "CIMAR_SYNTH_1"
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.save_as(path, enforce_file_format=True)


def _pixels(ds: Dataset, stored: np.ndarray, bits_stored: int) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = stored.astype("<u2").tobytes()


# ---------------------------------------------------------------------------- anatomy

# Tissue labels shared by CT and MR.
AIR, FAT, BONE, MARROW, GREY, WHITE, CSF, LESION, EYE = range(9)
MUSCLE, LUNG, VESSEL, BLOOD, AORTA, SKIN, TABLE = range(9, 16)


class _Canvas:
    """A label map on a square grid of `x` (mm, the same along rows and columns)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self.labels = np.full((x.size, x.size), AIR, dtype=np.uint8)

    def _window(self, cx: float, cy: float, a: float, b: float):  # type: ignore[no-untyped-def]
        cols = np.nonzero(np.abs(self.x - cx) <= a)[0]
        rows = np.nonzero(np.abs(self.x - cy) <= b)[0]
        if not cols.size or not rows.size:
            return None
        return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)

    def ellipse(
        self, cx: float, cy: float, a: float, b: float, label: int, within: int | None = None
    ) -> None:
        """Paint an ellipse (semi-axes a across, b down, mm); only over `within` when given."""
        if a <= 0 or b <= 0:
            return
        window = self._window(cx, cy, a, b)
        if window is None:
            return
        gy, gx = self.x[window[0], None], self.x[None, window[1]]
        inside = ((gx - cx) / a) ** 2 + ((gy - cy) / b) ** 2 <= 1.0
        region = self.labels[window]
        if within is not None:
            inside &= region == within
        region[inside] = label


class _Anatomy:
    """A tissue label map per axial slice for one patient (fixed random details)."""

    def __init__(self, kind: str, rng: np.random.Generator) -> None:
        self.kind = kind
        self.scale = float(rng.uniform(0.92, 1.08))  # patients differ a little in size
        # Lung vessels: tubes that wander through each lung, thinner towards the periphery.
        self.vessels = [
            (
                side,
                float(rng.uniform(-1, 1)),  # phase of the lateral wander
                float(rng.uniform(0.15, 0.95)),  # how far out in the lung
                float(rng.uniform(-1, 1)),  # antero-posterior position
                float(rng.uniform(1.0, 3.6)),  # radius (mm)
            )
            for side in (-1, 1)
            for _ in range(26)
        ]

    def slice(self, x: np.ndarray, zn: float, lesion_mm: float) -> np.ndarray:
        canvas = _Canvas(x / self.scale)
        if self.kind == "chest":
            self._chest(canvas, zn, lesion_mm)
        else:
            self._head(canvas, zn, lesion_mm)
        return canvas.labels

    def _chest(self, c: _Canvas, zn: float, lesion_mm: float) -> None:
        c.labels[np.ix_(np.abs(c.x - 131) < 3, np.abs(c.x) < 180)] = TABLE
        body_a, body_b = 165.0, 118.0
        c.ellipse(0, 0, body_a, body_b, SKIN)
        c.ellipse(0, 0, body_a - 3, body_b - 3, FAT)
        c.ellipse(0, 2, body_a - 20, body_b - 16, MUSCLE)
        # Ribs: a ring of bone just inside the muscle wall, present on most slices.
        if np.cos(zn * 9.0) > -0.35:
            for angle in np.linspace(-2.6, 2.6, 12):
                rx, ry = np.sin(angle) * (body_a - 30), -np.cos(angle) * (body_b - 25)
                c.ellipse(rx, ry, 9, 6, BONE)
                c.ellipse(rx, ry, 5, 3, MARROW)
        # Lungs shrink towards the apices (zn -> 1).
        lung_scale = float(np.sqrt(max(0.05, 1 - ((zn - 0.1) / 1.15) ** 2)))
        for side in (-1, 1):
            c.ellipse(side * 68, -5, 52 * lung_scale, 80 * lung_scale, LUNG)
        for side, phase, reach, ap, radius in self.vessels:
            cx = side * (30 + reach * 60 * lung_scale + 6 * np.sin(3 * zn + phase * 3))
            cy = -5 + ap * 65 * lung_scale + 5 * np.cos(2 * zn + phase)
            r = radius * (1.2 - reach * 0.6)
            c.ellipse(cx, cy, r, r, VESSEL, within=LUNG)
        if lesion_mm > 0 and abs(zn - 0.25) * 40 < lesion_mm / 2:
            r = float(np.sqrt((lesion_mm / 2) ** 2 - ((zn - 0.25) * 40) ** 2))
            c.ellipse(-70, -30, r, r, LESION, within=LUNG)
        # Mediastinum: heart in the lower chest, aorta, sternum, spine.
        if zn < 0.45:
            heart = max(0.2, float(np.sqrt(max(0.0, 1 - ((zn + 0.15) / 0.75) ** 2))))
            c.ellipse(18, 12, 58 * heart, 46 * heart, MUSCLE)
            c.ellipse(28, 10, 30 * heart, 24 * heart, BLOOD)
        c.ellipse(22, 52, 12, 12, AORTA)  # descending aorta, left of the spine
        if zn > 0.2:
            c.ellipse(8, -18, 15, 15, AORTA)  # ascending aorta / arch
        c.ellipse(0, -104, 14, 6, BONE)  # sternum
        c.ellipse(0, 72, 19, 16, BONE)  # vertebral body
        c.ellipse(0, 72, 15, 12, MARROW)
        c.ellipse(0, 96, 12, 8, BONE)  # posterior arch
        c.ellipse(0, 95, 7, 5, CSF)  # spinal canal

    @staticmethod
    def _head(c: _Canvas, zn: float, lesion_mm: float) -> None:
        # The head narrows towards the vertex (zn -> 1) and the skull base (zn -> -1).
        s = float(np.sqrt(max(0.04, 1 - (zn / 1.12) ** 2)))
        a, b = 72 * s, 92 * s
        c.ellipse(0, 0, a, b, FAT)  # scalp
        c.ellipse(0, 0, a - 4, b - 4, BONE)  # outer table
        c.ellipse(0, 0, a - 6, b - 6, MARROW)  # diploe
        c.ellipse(0, 0, a - 8, b - 8, BONE)  # inner table
        c.ellipse(0, 0, a - 10, b - 10, CSF)  # subarachnoid space
        c.ellipse(0, 0, a - 12, b - 12, GREY)
        # White matter with a rippled edge: the gyri and sulci.
        gy, gx = c.x[:, None], c.x[None, :]
        ripple = 3 * np.sin(14 * np.arctan2(gy, gx))
        white = (
            ((gx / (a - 21 + ripple)) ** 2 + ((gy - 2) / (b - 23 + ripple)) ** 2 <= 1.0)
            if a > 30
            else None
        )
        if white is not None:
            c.labels[white & (c.labels == GREY)] = WHITE
        falx = (np.abs(gx) < 1.5) & (np.abs(gy) < b - 14)
        c.labels[falx & ((c.labels == GREY) | (c.labels == WHITE))] = CSF
        if -0.35 < zn < 0.55:  # lateral ventricles
            v = float(np.sqrt(max(0.0, 1 - ((zn - 0.1) / 0.45) ** 2)))
            for side in (-1, 1):
                c.ellipse(side * (9 * v + 3), -8, 6 * v + 1, 26 * v + 1, CSF)
        if zn < -0.45:  # skull base: orbits with globes, a sinus
            for side in (-1, 1):
                c.ellipse(side * 32, -b + 18, 14, 12, FAT)
                c.ellipse(side * 32, -b + 18, 11, 11, EYE)
            c.ellipse(0, -b + 30, 12, 10, AIR)
        if lesion_mm > 0 and abs(zn - 0.2) * 25 < lesion_mm / 2:
            r = float(np.sqrt((lesion_mm / 2) ** 2 - ((zn - 0.2) * 25) ** 2))
            c.ellipse(30, 20, r * 1.2, r, LESION, within=WHITE)


_CT_HU = {
    AIR: -1000,
    FAT: -95,
    BONE: 1100,
    MARROW: 260,
    GREY: 38,
    WHITE: 27,
    CSF: 6,
    LESION: 62,
    EYE: 12,
    MUSCLE: 45,
    LUNG: -860,
    VESSEL: 40,
    BLOOD: 160,
    AORTA: 220,
    SKIN: 30,
    TABLE: 150,
}
_CT_NOISE = {"soft": 9.0, "brain": 3.5, "lung": 22.0, "bone": 30.0}


def _ct_pixels(
    ds: Dataset,
    labels: np.ndarray,
    kernel: str,
    windows: tuple[tuple[int, int, str], ...],
    rng: np.random.Generator,
) -> None:
    lut = np.zeros(16, dtype=np.float32)
    for label, hu in _CT_HU.items():
        lut[label] = hu
    hu = lut[labels] + rng.normal(0.0, _CT_NOISE[kernel], labels.shape).astype(np.float32)
    stored = np.clip(np.rint(hu + 1024), 0, 4095)
    ds.SOPClassUID = CTImageStorage
    _pixels(ds, stored, 12)
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.WindowCenter = [c for c, _, _ in windows] if len(windows) > 1 else windows[0][0]
    ds.WindowWidth = [w for _, w, _ in windows] if len(windows) > 1 else windows[0][1]
    ds.WindowCenterWidthExplanation = (
        [n for _, _, n in windows] if len(windows) > 1 else windows[0][2]
    )
    ds.KVP = 120
    ds.XRayTubeCurrent = 200
    ds.ConvolutionKernel = {"soft": "B30f", "brain": "H30s", "lung": "B70f", "bone": "H60s"}[kernel]


def _mr_pixels(
    ds: Dataset,
    labels: np.ndarray,
    sequence: str,
    x: np.ndarray,
    rng: np.random.Generator,
) -> None:
    lut = np.zeros(16, dtype=np.float32)
    for label, signal in enumerate(_MR_SIGNAL[sequence]):
        lut[label] = signal
    # A smooth coil sensitivity (bias field) and Rician-like noise, as on a real scanner.
    gy, gx = x[:, None], x[None, :]
    bias = 1.0 + 0.18 * np.exp(-((gx + 40) ** 2 + (gy + 60) ** 2) / (2 * 90.0**2))
    signal = lut[labels] * bias
    noise = rng.normal(0, 18, (2, *labels.shape))
    image = np.sqrt((signal + noise[0]) ** 2 + noise[1] ** 2)
    stored = np.clip(np.rint(image), 0, 4095)
    ds.SOPClassUID = MRImageStorage
    _pixels(ds, stored, 12)
    inside = stored[labels != AIR]
    low, high = np.percentile(inside, (1, 99)) if inside.size else (0, 1000)
    ds.WindowCenter = _ds(float((low + high) / 2))
    ds.WindowWidth = _ds(float(max(high - low, 1)))
    repetition, echo, inversion, scanning = _MR_TIMING[sequence]
    ds.ScanningSequence = scanning
    ds.SequenceVariant = "SK"
    ds.MRAcquisitionType = "2D"
    ds.RepetitionTime = repetition
    ds.EchoTime = echo
    if inversion:
        ds.InversionTime = inversion
    ds.MagneticFieldStrength = 1.5
    ds.ImagingFrequency = 63.87
    ds.ImagedNucleus = "1H"
