"""Image redaction: filled pixels, and a file that carries nothing but pixels.

The fixtures are a phone-style JPEG (EXIF with the photographer's name and a GPS position,
XMP, an ICC profile, a comment) and a PNG with text chunks, XMP, EXIF and an ICC profile. After
``render`` the areas are black, the rest of the picture is as it was, and none of the metadata
is left, by Pillow's reading or by a walk over the file's segments and chunks.
"""

from __future__ import annotations

import io
import warnings

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat
from PIL.PngImagePlugin import PngInfo

from vault.errors import InvalidInput, UnsupportedType
from vault.redaction import image
from vault.redaction.model import Area, Rect

NAME = "Marisol Quintero Vidal"
CAMERA_SERIAL = "SN-4471-0923"
XMP = f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>{NAME}</dc:creator></x:xmpmeta>'
ICC = b"fictional ICC profile of camera " + CAMERA_SERIAL.encode()
SIZE = (160, 120)
AREA = Area(1, Rect(20.5, 30, 75, 61.2))  # not on the JPEG block grid, on purpose
GPS_IFD = 0x8825


def picture(mode: str = "RGB", size: tuple[int, int] = SIZE) -> Image.Image:
    """A picture with detail everywhere: gradients and a few shapes."""
    width, height = size
    red = Image.linear_gradient("L").rotate(90).resize(size)
    green = Image.linear_gradient("L").resize(size)
    blue = Image.radial_gradient("L").resize(size)
    rgb = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(rgb)
    draw.rectangle((5, 5, 25, 25), fill=(255, 0, 0))  # a red mark at the top-left corner
    draw.ellipse((width - 50, height - 40, width - 10, height - 5), fill=(250, 250, 250))
    return rgb if mode == "RGB" else rgb.convert(mode)


def exif(orientation: int | None = None) -> Image.Exif:
    data = Image.Exif()
    data[0x010F] = "Fictional Phones"  # Make
    data[0x0110] = "Model 7"  # Model
    data[0x013B] = NAME  # Artist
    data[0xA431] = CAMERA_SERIAL  # BodySerialNumber
    if orientation is not None:
        data[0x0112] = orientation
    gps = data.get_ifd(GPS_IFD)
    gps[1] = "N"  # GPSLatitudeRef
    gps[2] = (19.0, 25.0, 12.5)  # GPSLatitude: a made-up spot in Mexico City
    gps[3] = "W"
    gps[4] = (99.0, 8.0, 4.25)
    return data


def jpeg(orientation: int | None = None, source: Image.Image | None = None) -> bytes:
    out = io.BytesIO()
    (source or picture()).save(
        out,
        "JPEG",
        quality=95,
        exif=exif(orientation),
        xmp=XMP.encode(),
        icc_profile=ICC,
        comment=f"foto de {NAME}".encode(),
    )
    return out.getvalue()


def png(source: Image.Image | None = None) -> bytes:
    info = PngInfo()
    info.add_text("Author", NAME)
    info.add_text("Comment", f"tomada en casa de {NAME}", zip=True)  # zTXt
    info.add_itxt("Description", f"Fuente: {NAME}")
    info.add_itxt("XML:com.adobe.xmp", XMP)
    out = io.BytesIO()
    (source or picture()).save(out, "PNG", pnginfo=info, icc_profile=ICC, exif=exif())
    return out.getvalue()


def decoded(content: bytes) -> Image.Image:
    with Image.open(io.BytesIO(content)) as opened:
        opened.load()
        return opened.copy()


FIXTURES = {"image/jpeg": jpeg, "image/png": png}


# -- the fixtures carry what a camera or an editor leaves ------------------------------------


def test_the_jpeg_fixture_carries_exif_gps_xmp_icc_and_a_comment() -> None:
    content = jpeg()
    assert {"exif", "gps", "xmp", "icc-profile", "comment"} <= set(
        image.structural_problems(content, "image/jpeg")
    )
    assert NAME.encode() in content


def test_the_png_fixture_carries_text_xmp_exif_and_icc() -> None:
    content = png()
    assert {"text-chunks", "xmp", "exif", "gps", "icc-profile"} <= set(
        image.structural_problems(content, "image/png")
    )


# -- after rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", FIXTURES)
def test_the_result_carries_nothing_but_pixels(media_type: str) -> None:
    out = image.render(FIXTURES[media_type](), media_type, [AREA])
    assert image.structural_problems(out, media_type) == []
    for secret in (NAME, CAMERA_SERIAL, "Fictional Phones", "Exif", "GPS"):
        assert secret.encode() not in out
        assert secret.encode("utf-16-be") not in out
    with Image.open(io.BytesIO(out)) as result:
        assert result.format == {"image/jpeg": "JPEG", "image/png": "PNG"}[media_type]
        assert len(result.getexif()) == 0
        assert result.getexif().get_ifd(GPS_IFD) == {}
        assert not {"exif", "xmp", "icc_profile", "comment"} & set(result.info)


@pytest.mark.parametrize("media_type", FIXTURES)
def test_the_areas_are_filled(media_type: str) -> None:
    original = FIXTURES[media_type]()
    out = image.render(original, media_type, [AREA])
    assert image.filled(out, [AREA])
    assert not image.filled(original, [AREA])
    assert image.image_size(out) == SIZE


def test_png_pixels_outside_the_areas_are_unchanged() -> None:
    out = image.render(png(), "image/png", [AREA])
    expected = picture()
    ImageDraw.Draw(expected).rectangle((20, 30, 74, 61), fill=(0, 0, 0))  # rounded outward
    assert decoded(out).tobytes() == expected.tobytes()


def test_jpeg_pixels_outside_the_areas_are_nearly_unchanged() -> None:
    original = jpeg()
    out = image.render(original, "image/jpeg", [AREA])
    difference = ImageChops.difference(decoded(original), decoded(out)).convert("L")
    # Outside the area widened to whole 8-pixel blocks, only re-encoding noise remains.
    mask = Image.new("L", SIZE, 255)
    ImageDraw.Draw(mask).rectangle((16, 24, 79, 63), fill=0)
    assert ImageStat.Stat(difference, mask).mean[0] < 3
    # ... and the widening stays within one block of the area.
    black = decoded(out).convert("L").point(lambda v: 255 if v < 8 else 0).getbbox()
    assert black == (16, 24, 80, 64)


def test_the_rounded_box_covers_fractional_edges() -> None:
    area = Area(1, Rect(10.2, 10.7, 10.3, 10.8))  # inside a single pixel
    out = image.render(png(), "image/png", [area])
    result = decoded(out)
    assert result.getpixel((10, 10)) == (0, 0, 0)
    assert result.getpixel((11, 10)) != (0, 0, 0)
    assert result.getpixel((10, 11)) != (0, 0, 0)


def test_coordinates_are_as_displayed_after_exif_orientation() -> None:
    # Stored 160x120 with orientation 6: viewers turn it a quarter clockwise to 120x160,
    # which puts the red mark stored at the top-left at the displayed top-right.
    content = jpeg(orientation=6)
    assert image.image_size(content) == (120, 160)
    corner = Area(1, Rect(0, 0, 40, 40))
    out = image.render(content, "image/jpeg", [corner])
    result = decoded(out)
    assert result.size == (120, 160)
    assert image.filled(out, [corner])
    red, green, blue = result.getpixel((120 - 15, 15))
    assert (red > 200, green < 60, blue < 60) == (True, True, True)
    assert image.structural_problems(out, "image/jpeg") == []  # no orientation tag left


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGBA", "I;16"])
def test_png_modes_are_filled_and_clean(mode: str) -> None:
    source = picture(mode)
    if mode == "P":
        source.info["transparency"] = 0
    content = png(source)
    out = image.render(content, "image/png", [AREA])
    assert image.filled(out, [AREA])
    assert image.structural_problems(out, "image/png") == []


def test_a_grayscale_and_a_cmyk_jpeg_are_redacted() -> None:
    for mode in ("L", "CMYK"):
        out = image.render(jpeg(source=picture(mode)), "image/jpeg", [AREA])
        assert image.filled(out, [AREA])
        assert image.structural_problems(out, "image/jpeg") == []


def test_extra_frames_are_reported_and_dropped() -> None:
    frames = [picture(), picture().rotate(180)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:])
    animated = buffer.getvalue()
    assert "extra-frames" in image.structural_problems(animated, "image/png")
    out = image.render(animated, "image/png", [AREA])
    assert image.structural_problems(out, "image/png") == []


def test_bytes_after_the_end_of_the_image_are_reported_and_dropped() -> None:
    content = jpeg() + b"appended notes: " + NAME.encode()
    assert "trailing-data" in image.structural_problems(content, "image/jpeg")
    out = image.render(content, "image/jpeg", [AREA])
    assert image.structural_problems(out, "image/jpeg") == []
    assert NAME.encode() not in out


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "area",
    [
        Area(1, Rect(100, 100, 161, 110)),
        Area(1, Rect(0, 0, 10, 121)),
        Area(1, Rect(-1, 0, 10, 10)),
        Area(2, Rect(0, 0, 10, 10)),
    ],
)
def test_a_region_outside_the_image_is_invalid_input(area: Area) -> None:
    with pytest.raises(InvalidInput):
        image.render(png(), "image/png", [area])
    with pytest.raises(InvalidInput):
        image.filled(png(), [area])


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (b"", "image/png"),
        (b"definitely not an image", "image/jpeg"),
        (png(), "image/jpeg"),  # the type and the bytes disagree
        (jpeg()[:600], "image/jpeg"),  # truncated in the middle of the pixel data
        (png()[:400], "image/png"),
    ],
)
def test_unreadable_images_are_invalid_input(content: bytes, media_type: str) -> None:
    with pytest.raises(InvalidInput, match="could not be read") as raised:
        image.render(content, media_type, [AREA])
    assert raised.value.__cause__ is None
    assert image.structural_problems(content, media_type) != []


def test_garbage_is_unreadable_for_every_function() -> None:
    with pytest.raises(InvalidInput, match="could not be read"):
        image.image_size(b"GIF89a not supported")
    with pytest.raises(InvalidInput, match="could not be read"):
        image.filled(b"garbage", [AREA])
    assert image.structural_problems(b"garbage", "image/png") == ["unreadable"]


def test_an_unsupported_type_is_refused() -> None:
    with pytest.raises(UnsupportedType):
        image.render(png(), "image/gif", [AREA])


@pytest.mark.parametrize("limit", [1_000, 15_000])  # beyond twice the limit, and just beyond it
def test_a_decompression_bomb_is_refused(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    content = png()
    with pytest.raises(InvalidInput, match="too many pixels"):
        image.render(content, "image/png", [AREA])
    with pytest.raises(InvalidInput, match="too many pixels"):
        image.image_size(content)


def test_a_bomb_is_refused_where_pillow_only_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    # In production Pillow's DecompressionBombWarning is just a warning: the size is checked
    # again after opening.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 15_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(InvalidInput, match="too many pixels"):
            image.render(png(), "image/png", [AREA])
