"""studies.rendering on files made here (and pydicom's bundled ones), against numpy expectations."""

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from studies import rendering
from studies.rendering import JPEG, PNG, WEBP, RenderError, RenderParams, Window
from testkit.dicom_files import (
    bundled,
    close,
    dataset,
    decoded,
    jpeg_baseline,
    phantom,
    reference_window,
    write,
)


def render(path, **params):  # type: ignore[no-untyped-def]
    return decoded(rendering.render(str(path), RenderParams(**params)))


def ct(**attributes):  # type: ignore[no-untyped-def]
    stored = phantom(high=1000) + 1024  # stored values (12-bit signed); modality = stored - 1024
    defaults = {
        "RescaleSlope": 1,
        "RescaleIntercept": -1024,
        "WindowCenter": 40,
        "WindowWidth": 400,
    }
    return stored, dataset(stored, bits_stored=12, signed=True, **{**defaults, **attributes})


def test_monochrome2_signed_16_bit_with_rescale_and_file_window(tmp_path):
    stored, ds = ct()
    expected = reference_window(stored - 1024, 40, 400)
    assert close(render(write(ds, tmp_path / "ct.dcm")), expected)


def test_monochrome1_is_displayed_inverted(tmp_path):
    stored, ds = ct(PhotometricInterpretation="MONOCHROME1")
    expected = 255 - reference_window(stored - 1024, 40, 400)
    assert close(render(write(ds, tmp_path / "m1.dcm")), expected)


def test_the_first_of_several_file_windows_is_used(tmp_path):
    stored, ds = ct(WindowCenter=[-600, 40], WindowWidth=[1500, 400])
    assert close(render(write(ds, tmp_path / "w.dcm")), reference_window(stored - 1024, -600, 1500))


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_requested_window_and_function(tmp_path, function):
    stored, ds = ct()
    path = write(ds, tmp_path / "ct.dcm")
    image = render(path, window=Window(300, 1500, function))
    assert close(image, reference_window(stored - 1024, 300, 1500, function))


def test_voi_lut_function_in_the_file_is_honoured(tmp_path):
    stored, ds = ct(VOILUTFunction="SIGMOID")
    assert close(
        render(write(ds, tmp_path / "s.dcm")), reference_window(stored - 1024, 40, 400, "SIGMOID")
    )


def test_automatic_window_spans_the_pixel_range(tmp_path):
    stored = phantom(low=100, high=900)
    ds = dataset(stored, bits_stored=12)
    image = render(write(ds, tmp_path / "auto.dcm"))
    assert image.min() == 0 and image.max() == 255
    expected = reference_window(stored, 500, 800, "LINEAR_EXACT")
    assert close(image, expected)


@pytest.mark.parametrize(
    ("bits_allocated", "bits_stored", "signed", "low", "high"),
    [
        (8, 8, False, 0, 255),
        (16, 12, False, 0, 4095),
        (16, 16, False, 0, 65535),
        (16, 16, True, -32768, 32767),
        (16, 10, True, -512, 511),
        (32, 32, False, 0, 4_000_000_000),
        (32, 24, True, -(2**23), 2**23 - 1),
    ],
)
def test_bit_depths_and_signedness(tmp_path, bits_allocated, bits_stored, signed, low, high):
    stored = phantom(low=low, high=high)
    center, width = (low + high) / 2, (high - low) / 2
    ds = dataset(
        stored,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored,
        signed=signed,
        WindowCenter=center,
        WindowWidth=width,
    )
    assert close(render(write(ds, tmp_path / "b.dcm")), reference_window(stored, center, width))


def test_unused_high_bits_are_ignored(tmp_path):
    stored = phantom(low=0, high=4095)
    ds = dataset(stored, bits_stored=12, WindowCenter=2048, WindowWidth=4096)
    noisy = stored | 0xF000  # overlay bits set above bit 11
    ds.PixelData = noisy.astype("<u2").tobytes()
    assert close(render(write(ds, tmp_path / "hb.dcm")), reference_window(stored, 2048, 4096))


def test_one_bit_images(tmp_path):
    bits = (phantom(low=0, high=1000) > 500).astype(np.uint8)
    ds = dataset(bits, bits_allocated=1, bits_stored=1)
    image = render(write(ds, tmp_path / "1bit.dcm"))
    assert np.array_equal(image, np.where(bits == 1, 255, 0))


def test_modality_lut_sequence(tmp_path):
    stored = phantom(low=0, high=255).astype(np.uint8)
    lut = (np.arange(256) * 4).astype(np.uint16)  # modality = 4 x stored
    item = Dataset()
    item.LUTDescriptor = [256, 0, 16]
    item.LUTData = lut.tolist()
    item["LUTData"].VR = "US"
    ds = dataset(stored, ModalityLUTSequence=[item], WindowCenter=500, WindowWidth=400)
    expected = reference_window(stored.astype(np.int64) * 4, 500, 400)
    assert close(render(write(ds, tmp_path / "mlut.dcm")), expected)


def test_voi_lut_sequence_is_honoured(tmp_path):
    stored = phantom(low=0, high=1023)
    voi = (4095 - np.arange(1024) * 4).clip(0).astype(np.uint16)  # an inverting 12-bit LUT
    item = Dataset()
    item.LUTDescriptor = [1024, 0, 12]
    item.LUTData = voi.tobytes()
    item["LUTData"].VR = "OW"
    ds = dataset(stored, bits_stored=10, VOILUTSequence=[item])
    expected = np.rint(voi[stored] / 4095 * 255).astype(np.uint8)
    assert close(render(write(ds, tmp_path / "voilut.dcm")), expected)


@pytest.mark.parametrize(
    "syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian]
)
def test_uncompressed_syntaxes(tmp_path, syntax):
    stored, ds = ct()
    ds = dataset(
        stored,
        bits_stored=12,
        signed=True,
        syntax=syntax,
        RescaleIntercept=-1024,
        RescaleSlope=1,
        WindowCenter=40,
        WindowWidth=400,
    )
    path = write(ds, tmp_path / "u.dcm")
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == syntax
    assert close(render(path), reference_window(stored - 1024, 40, 400))


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_lossless_compressed_syntaxes_we_encode(tmp_path, syntax):
    stored, ds = ct()
    ds.compress(syntax)
    path = write(ds, tmp_path / "c.dcm")
    assert close(render(path), reference_window(stored - 1024, 40, 400))


def test_jpeg2000_lossy(tmp_path):
    stored, ds = ct()
    ds.compress(JPEG2000, j2k_psnr=[90])
    image = render(write(ds, tmp_path / "j2k.dcm"))
    expected = reference_window(stored - 1024, 40, 400)
    assert np.abs(image.astype(int) - expected).mean() < 2


def test_multi_frame_renders_the_requested_frame(tmp_path):
    frames = np.stack([phantom(low=0, high=1000) + 1000 * k for k in range(3)])
    ds = dataset(frames, WindowCenter=1500, WindowWidth=3000)
    for path in (write(ds, tmp_path / "mf.dcm"), None):
        if path is None:
            ds.compress(RLELossless)
            path = write(ds, tmp_path / "mf_rle.dcm")
        for k in range(3):
            assert close(render(path, frame=k), reference_window(frames[k], 1500, 3000))
        with pytest.raises(RenderError, match="Frame 4 does not exist"):
            rendering.render(path, RenderParams(frame=3))


def test_enhanced_multi_frame_per_frame_window(tmp_path):
    frames = np.stack([phantom(low=0, high=1000)] * 2)
    ds = dataset(frames)
    groups = []
    for center in (200, 800):
        voi, group = Dataset(), Dataset()
        voi.WindowCenter, voi.WindowWidth = center, 100
        group.FrameVOILUTSequence = [voi]
        groups.append(group)
    ds.PerFrameFunctionalGroupsSequence = groups
    path = write(ds, tmp_path / "enh.dcm")
    assert close(render(path, frame=1), reference_window(frames[1], 800, 100))


# --- Colour --------------------------------------------------------------------------------


def rgb_image(rows=40, columns=60):  # type: ignore[no-untyped-def]
    yy, xx = np.mgrid[0:rows, 0:columns]
    return np.stack([xx * 4, yy * 6, (xx + yy) * 2], axis=-1).clip(0, 255).astype(np.uint8)


def to_ybr_full(rgb):  # type: ignore[no-untyped-def]
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    return np.stack([y, cb, cr], axis=-1).round().clip(0, 255).astype(np.uint8)


def test_rgb_interleaved_and_planar(tmp_path):
    rgb = rgb_image()
    assert close(render(write(dataset(rgb, photometric="RGB"), tmp_path / "rgb.dcm")), rgb, 0)
    planar = dataset(rgb, photometric="RGB", PlanarConfiguration=1)
    planar.PixelData = np.moveaxis(rgb, -1, 0).tobytes()
    assert close(render(write(planar, tmp_path / "planar.dcm")), rgb, 0)


def test_rgb_16_bit_is_scaled_to_8_bits(tmp_path):
    rgb = rgb_image().astype(np.uint16) * 256
    image = render(write(dataset(rgb, photometric="RGB"), tmp_path / "rgb16.dcm"))
    assert close(image, (rgb >> 8).astype(np.uint8), 0)


def test_ybr_full_uncompressed(tmp_path):
    rgb = rgb_image()
    ds = dataset(to_ybr_full(rgb), photometric="YBR_FULL")
    assert close(render(write(ds, tmp_path / "ybr.dcm")), rgb, 3)


def test_jpeg_baseline_grey_and_ybr_full_422(tmp_path):
    grey = reference_window(phantom(), 250, 2500)
    image = render(write(jpeg_baseline(grey, photometric="MONOCHROME2"), tmp_path / "g.dcm"))
    assert np.abs(image.astype(int) - grey).mean() < 2
    rgb = rgb_image(48, 64)
    image = render(write(jpeg_baseline(rgb, photometric="YBR_FULL_422"), tmp_path / "c.dcm"))
    assert image.shape == rgb.shape and np.abs(image.astype(int) - rgb).mean() < 4


@pytest.mark.parametrize(
    ("syntax", "photometric", "tolerance"),
    [(JPEG2000Lossless, "YBR_RCT", 0), (JPEG2000, "YBR_ICT", 3)],
)
def test_jpeg2000_ybr_rct_and_ict(tmp_path, syntax, photometric, tolerance):
    rgb = rgb_image()
    ds = dataset(rgb, photometric="RGB")
    ds.compress(syntax, use_mct=True, **({"j2k_psnr": [60]} if syntax == JPEG2000 else {}))
    ds.PhotometricInterpretation = photometric
    image = render(write(ds, tmp_path / "j2k.dcm"))
    assert np.abs(image.astype(int) - rgb).mean() <= tolerance


def test_palette_color(tmp_path):
    indices = (phantom(low=0, high=255)).astype(np.uint8)
    red, green, blue = ((np.arange(256) * k * 256 % 65536).astype(np.uint16) for k in (1, 2, 3))
    ds = dataset(indices, photometric="PALETTE COLOR")
    for colour, table in zip(("Red", "Green", "Blue"), (red, green, blue), strict=True):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", table.tobytes())
    image = render(write(ds, tmp_path / "pal.dcm"))
    expected = np.stack([(t >> 8)[indices] for t in (red, green, blue)], axis=-1)
    assert close(image, expected.astype(np.uint8))


# --- pydicom's bundled files: syntaxes we cannot encode here ---------------------------------


def _reference(name, window=None):  # type: ignore[no-untyped-def]
    """Expected display of a bundled monochrome file: pydicom decode + the reference window."""
    ds = pydicom.dcmread(bundled(name))
    values = pydicom.pixels.apply_rescale(ds.pixel_array, ds).astype(np.float64)
    center, width = window or (float(ds.WindowCenter), float(ds.WindowWidth))
    return reference_window(values, center, width)


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_RLE.dcm",
        "MR_small_bigendian.dcm",
    ],
)
def test_bundled_lossless_files_match_the_uncompressed_original(name):
    image = render(bundled(name), window=Window(600, 1200))
    assert close(image, _reference("MR_small.dcm", (600, 1200)))


def test_bundled_jpeg_ls_near_lossless():
    image = render(bundled("JPEGLSNearLossless_16.dcm"), window=Window(2000, 4000))
    assert close(image, _reference("JPEGLSNearLossless_16.dcm", (2000, 4000)))


def test_bundled_jpeg_extended_12_bit():
    image = render(bundled("JPGExtended.dcm"), window=Window(2000, 4000))
    assert image.shape == (1024, 256)
    assert close(image, _reference("JPGExtended.dcm", (2000, 4000)))


def test_bundled_jpeg_lossless_rgb_matches_the_rle_original():
    lossless = render(bundled("SC_rgb_jpeg_gdcm.dcm"))
    original = render(bundled("SC_rgb_rle.dcm"))
    assert close(lossless, original, 0)


def test_bundled_jpeg_ybr_full_422_and_multi_frame():
    image = render(bundled("SC_rgb_dcmtk_+eb+cy+np.dcm"))
    assert np.abs(image.astype(int) - render(bundled("SC_rgb_rle.dcm")).astype(int)).mean() < 3
    frames = pydicom.dcmread(bundled("examples_ybr_color.dcm")).NumberOfFrames
    last = render(bundled("examples_ybr_color.dcm"), frame=frames - 1)
    first = render(bundled("examples_ybr_color.dcm"), frame=0)
    assert last.shape == (240, 320, 3) and not np.array_equal(first, last)


# --- Failures ----------------------------------------------------------------------------------


def test_truncated_pixel_data_is_a_render_error():
    with pytest.raises(RenderError, match="truncated"):
        rendering.render(bundled("MR_truncated.dcm"), RenderParams())


def test_corrupt_compressed_data_is_a_render_error(tmp_path):
    stored, ds = ct()
    ds.compress(JPEG2000Lossless)
    data = bytearray(open(write(ds, tmp_path / "ok.dcm"), "rb").read())
    start = data.find(b"\xff\x4f\xff\x51")  # J2K codestream start
    data[start + 4 : start + 200] = b"\x00" * 196
    (tmp_path / "bad.dcm").write_bytes(bytes(data))
    # Its SIZ marker now says 0 x 0: refused before the decoder sees it.
    with pytest.raises(RenderError, match="declares an empty image"):
        rendering.render(str(tmp_path / "bad.dcm"), RenderParams())


def test_not_dicom_is_a_render_error(tmp_path):
    (tmp_path / "x.dcm").write_bytes(b"hello")
    with pytest.raises(RenderError, match="not readable DICOM"):
        rendering.render(str(tmp_path / "x.dcm"), RenderParams())


def test_limits_are_checked_before_decoding(tmp_path, monkeypatch):
    stored, ds = ct()
    path = write(ds, tmp_path / "big.dcm")

    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("decoded despite the limit")

    monkeypatch.setattr(rendering, "decode_frame", fail)
    with pytest.raises(RenderError, match="too large"):
        rendering.render(path, RenderParams(), rendering.Limits(max_pixels=1000))
    with pytest.raises(RenderError, match="frames"):
        rendering.render(path, RenderParams(), rendering.Limits(max_frames=0))


# --- Encoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", [PNG, JPEG, WEBP])
def test_formats_and_viewport(tmp_path, media_type):
    stored, ds = ct()
    path = write(ds, tmp_path / "ct.dcm")
    data = rendering.render(path, RenderParams(media_type=media_type, viewport=(24, 100)))
    assert data[:4] == {PNG: b"\x89PNG", JPEG: b"\xff\xd8\xff\xe0", WEBP: b"RIFF"}[media_type]
    # 64x48 scaled down to fit 24 wide, aspect kept (WebP decodes as RGB).
    assert decoded(data).shape[:2] == (32, 24)


def test_window_lookup_tables_are_built_once(tmp_path):
    stored, ds = ct()
    path = write(ds, tmp_path / "ct.dcm")
    rendering.monochrome_lut.cache_clear()
    rendering.render(path, RenderParams(window=Window(10, 100)))
    rendering.render(path, RenderParams(window=Window(10, 100), media_type=JPEG))
    info = rendering.monochrome_lut.cache_info()
    assert (info.misses, info.hits) == (1, 1)


@pytest.mark.parametrize("backend", ["isal", "zlib"])
@pytest.mark.parametrize(
    "shape", [(512, 512), (7, 13), (1, 1), (1, 300), (33, 17, 3), (5, 9, 4)], ids=str
)
def test_png_encoder_round_trips_exactly(monkeypatch, backend, shape):
    """The hand-written PNG encoder, with ISA-L and with the zlib fallback: Pillow (libpng's
    rules, chunk CRCs verified) decodes exactly the pixels given, for grey, RGB and RGBA."""
    import io

    from PIL import Image

    if backend == "zlib":
        monkeypatch.setattr(rendering.png, "isal_zlib", None)
    else:
        assert rendering.png.isal_zlib is not None, "the isal dependency is not installed"
    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    pixels[: shape[0] // 2] //= 16  # runs and noise, as in a windowed image
    data = rendering.encode_png(pixels)
    Image.open(io.BytesIO(data)).verify()  # structure and every chunk's CRC
    image = Image.open(io.BytesIO(data))
    channels = shape[2] if len(shape) == 3 else 1
    assert image.mode == {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    assert np.array_equal(decoded(data), pixels)
