"""photo_accept on good photos: formats decided by content, metadata gone, GPS and time taken kept apart."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.files import File
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from PIL import ExifTags, Image, PngImagePlugin, TiffImagePlugin

from photos.services import AcceptedPhoto, photo_accept
from tests.photos.images import (
    QINGDAO_LAT,
    QINGDAO_LON,
    XMP_PACKET,
    build_exif,
    encode,
    heic_bytes,
    jpeg_bytes,
    marked_image,
    srgb_icc,
    swapped_primaries_icc,
    upload,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# What a phone leaves in a file that must not reach storage.
METADATA_MARKERS = (b"Exif\x00\x00", b"HUAWEI", b"Inspector Phone", b"SecretPhoneApp", b"ns.adobe.com/xap", b"<script")


def reopen(photo: AcceptedPhoto) -> Image.Image:
    image = Image.open(BytesIO(photo.content))
    image.load()
    return image


def png_with_metadata() -> bytes:
    text = PngImagePlugin.PngInfo()
    text.add_itxt("XML:com.adobe.xmp", XMP_PACKET.decode())
    text.add_text("Comment", "<script>alert(1)</script>")
    return encode(marked_image(), "PNG", exif=build_exif(), pnginfo=text, icc_profile=srgb_icc())


PHONE_FILES = {
    "jpeg": lambda: jpeg_bytes(xmp=XMP_PACKET, icc_profile=srgb_icc(), comment=b"<script>alert(1)</script>"),
    "png": png_with_metadata,
    "webp": lambda: encode(marked_image(), "WEBP", exif=build_exif(), xmp=XMP_PACKET, icc_profile=srgb_icc()),
    "heic": heic_bytes,
}


@pytest.mark.parametrize(
    ("kind", "extension", "content_type", "pillow_format"),
    [
        ("jpeg", "jpg", "image/jpeg", "JPEG"),
        ("png", "png", "image/png", "PNG"),
        ("webp", "webp", "image/webp", "WEBP"),
        ("heic", "jpg", "image/jpeg", "JPEG"),
    ],
)
def test_it_accepts_each_format_and_stores_it_in_a_format_browsers_show(
    kind: str, extension: str, content_type: str, pillow_format: str
) -> None:
    photo = photo_accept(upload=upload(PHONE_FILES[kind](), name=f"IMG_0001.{kind}"))

    assert (photo.extension, photo.content_type) == (extension, content_type)
    assert reopen(photo).format == pillow_format
    assert (photo.width, photo.height) == reopen(photo).size == (64, 48)
    assert photo.sha256 == hashlib.sha256(photo.content).hexdigest()


@pytest.mark.parametrize("kind", sorted(PHONE_FILES))
def test_it_strips_exif_xmp_icc_and_comments_from_the_stored_bytes(kind: str) -> None:
    original = PHONE_FILES[kind]()
    assert any(marker in original for marker in METADATA_MARKERS)  # the file really carried metadata

    photo = photo_accept(upload=upload(original))

    image = reopen(photo)
    assert dict(image.getexif()) == {}
    assert not {"exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "Comment"} & set(image.info)
    assert [marker for marker in METADATA_MARKERS if marker in photo.content] == []


@pytest.mark.parametrize("kind", sorted(PHONE_FILES))
def test_it_keeps_the_gps_position_and_the_time_taken_as_fields(kind: str) -> None:
    photo = photo_accept(upload=upload(PHONE_FILES[kind]()))

    assert photo.gps is not None
    assert photo.gps.srid == 4326
    assert photo.gps.x == pytest.approx(QINGDAO_LON, abs=1e-6)
    assert photo.gps.y == pytest.approx(QINGDAO_LAT, abs=1e-6)
    assert photo.taken_at == datetime(2026, 11, 3, 14, 25, 7, tzinfo=SHANGHAI)


def test_it_reads_the_time_taken_in_the_offset_the_camera_wrote_with_sub_seconds() -> None:
    exif = build_exif(taken="2026:11:03 07:25:07", offset="-05:30", subsec="042")

    photo = photo_accept(upload=upload(jpeg_bytes(exif=exif)))

    assert photo.taken_at == datetime(2026, 11, 3, 7, 25, 7, 42000, tzinfo=timezone(-timedelta(hours=5, minutes=30)))
    assert photo.taken_at.utcoffset() == -timedelta(hours=5, minutes=30)


def test_without_an_offset_the_time_taken_is_read_as_shanghai_time() -> None:
    photo = photo_accept(upload=upload(jpeg_bytes(exif=build_exif(taken="2026:02:01 23:59:59"))))

    assert photo.taken_at is not None
    assert photo.taken_at.utcoffset() == timedelta(hours=8)
    assert photo.taken_at == datetime(2026, 2, 1, 15, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("taken", "offset"),
    [
        (None, None),  # no DateTimeOriginal at all
        ("0000:00:00 00:00:00", None),  # a camera with its clock never set
        ("2026:13:45 25:61:00", None),  # impossible
        ("yesterday", "+08:00"),
        ("    :  :     :  :  ", None),
    ],
)
def test_a_missing_or_impossible_time_taken_is_none(taken: str | None, offset: str | None) -> None:
    photo = photo_accept(upload=upload(jpeg_bytes(exif=build_exif(taken=taken, offset=offset))))

    assert photo.taken_at is None
    assert photo.gps is not None  # the rest of the metadata is still read


def test_an_unreadable_offset_falls_back_to_shanghai_time() -> None:
    photo = photo_accept(upload=upload(jpeg_bytes(exif=build_exif(offset="+99:00"))))

    assert photo.taken_at == datetime(2026, 11, 3, 14, 25, 7, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("refs", "lon", "lat"),
    [
        (("N", "E"), QINGDAO_LON, QINGDAO_LAT),
        (("S", "W"), -QINGDAO_LON, -QINGDAO_LAT),
        (("S", "E"), QINGDAO_LON, -QINGDAO_LAT),
    ],
)
def test_the_gps_references_give_the_sign(refs: tuple[str, str], lon: float, lat: float) -> None:
    photo = photo_accept(upload=upload(jpeg_bytes(exif=build_exif(refs=refs))))

    assert photo.gps is not None
    assert (photo.gps.x, photo.gps.y) == (pytest.approx(lon, abs=1e-6), pytest.approx(lat, abs=1e-6))


ZERO_DENOMINATOR = TiffImagePlugin.IFDRational(5, 0)


@pytest.mark.parametrize(
    "exif_options",
    [
        pytest.param({"dms": None}, id="no GPS"),
        pytest.param({"dms": ((0, 0, 0), (0, 0, 0))}, id="null island, a phone with no fix"),
        pytest.param({"gps_status": "V"}, id="receiver reports a void fix"),
        pytest.param({"dms": ((95, 0, 0), (120, 0, 0))}, id="latitude out of range"),
        pytest.param({"dms": ((36, 0, 0), (181, 0, 0))}, id="longitude out of range"),
        pytest.param({"refs": ("X", "E")}, id="unknown hemisphere"),
        pytest.param({"raw_gps": {ExifTags.GPS.GPSLatitude: (ZERO_DENOMINATOR,) * 3}}, id="zero denominators"),
        pytest.param(
            {"raw_gps": {ExifTags.GPS.GPSLatitude: (TiffImagePlugin.IFDRational(36, 1),) * 2}},
            id="two parts, not three",
        ),
    ],
)
def test_absent_or_garbage_gps_is_none_and_the_photo_is_still_accepted(exif_options: dict[str, Any]) -> None:
    photo = photo_accept(upload=upload(jpeg_bytes(exif=build_exif(**exif_options))))

    assert photo.gps is None
    assert photo.taken_at is not None


def test_a_photo_with_no_metadata_at_all_is_accepted_with_empty_fields() -> None:
    photo = photo_accept(upload=upload(encode(marked_image(), "JPEG")))

    assert (photo.gps, photo.taken_at) == (None, None)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_a_corrupt_exif_block_costs_the_metadata_not_the_photo() -> None:
    photo = photo_accept(upload=upload(encode(marked_image(), "JPEG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f")))

    assert (photo.gps, photo.taken_at) == (None, None)
    assert b"Exif" not in photo.content


RED = (230, 20, 20)


def red_corner(image: Image.Image) -> str:
    """Where the marked block of `marked_image` ended up."""
    width, height = image.size
    corners = {"top-left": (2, 2), "top-right": (width - 3, 2), "bottom-left": (2, height - 3)}
    corners["bottom-right"] = (width - 3, height - 3)
    found = [
        name
        for name, xy in corners.items()
        if all(abs(a - b) < 40 for a, b in zip(image.getpixel(xy), RED, strict=True))
    ]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("orientation", "size", "corner"),
    [
        (1, (64, 48), "top-left"),
        (2, (64, 48), "top-right"),
        (3, (64, 48), "bottom-right"),
        (4, (64, 48), "bottom-left"),
        (5, (48, 64), "top-left"),
        (6, (48, 64), "top-right"),  # the phone held upright: rotate 90° clockwise
        (7, (48, 64), "bottom-right"),
        (8, (48, 64), "bottom-left"),
    ],
)
def test_it_applies_the_exif_orientation_before_dropping_it(
    orientation: int, size: tuple[int, int], corner: str
) -> None:
    photo = photo_accept(upload=upload(jpeg_bytes(exif=build_exif(orientation=orientation))))

    image = reopen(photo)
    assert (photo.width, photo.height) == image.size == size
    assert red_corner(image) == corner
    assert ExifTags.Base.Orientation not in image.getexif()


def test_a_heic_taken_upright_comes_out_upright() -> None:
    photo = photo_accept(upload=upload(heic_bytes(exif=build_exif(orientation=6)), name="IMG_0002.HEIC"))

    image = reopen(photo)
    assert (photo.width, photo.height) == image.size == (48, 64)
    assert red_corner(image) == "top-right"


def test_a_cmyk_jpeg_is_stored_as_rgb() -> None:
    photo = photo_accept(upload=upload(encode(marked_image(mode="CMYK"), "JPEG")))

    assert reopen(photo).mode == "RGB"
    assert red_corner(reopen(photo)) == "top-left"


def test_a_palette_png_with_transparency_keeps_its_transparency_as_rgba() -> None:
    palette = marked_image().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    transparent_index = palette.getpixel((63, 47))

    photo = photo_accept(upload=upload(encode(palette, "PNG", transparency=transparent_index)))

    image = reopen(photo)
    assert (photo.extension, image.mode) == ("png", "RGBA")
    assert image.getpixel((63, 47))[3] == 0
    assert image.getpixel((2, 2))[3] == 255


def test_a_transparent_heic_goes_to_jpeg_on_white() -> None:
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    rgba.paste((10, 200, 10, 255), (0, 0, 16, 16))

    photo = photo_accept(upload=upload(encode(rgba, "HEIF", quality=-1), name="a.heic"))

    image = reopen(photo)
    assert (photo.extension, image.mode) == ("jpg", "RGB")
    assert min(image.getpixel((28, 28))) > 240  # the transparent part is white, not black


def test_a_16_bit_greyscale_png_is_scaled_to_8_bits_not_clipped() -> None:
    photo = photo_accept(upload=upload(encode(Image.new("I;16", (8, 8), 32768), "PNG")))

    image = reopen(photo)
    assert image.mode == "L"
    assert image.getpixel((0, 0)) == 128


def test_colours_are_converted_to_srgb_by_the_embedded_profile_before_it_is_dropped() -> None:
    """A Display P3 photo shown without its profile looks washed out; here the effect is made unmistakable."""
    photo = photo_accept(upload=upload(encode(marked_image(), "PNG", icc_profile=swapped_primaries_icc())))

    image = reopen(photo)
    assert "icc_profile" not in image.info
    red, green, blue = image.getpixel((2, 2))  # (230, 20, 20) in the swapped profile is green in sRGB
    assert green > 200 and red < 40 and blue < 40


def test_an_srgb_profile_leaves_the_pixels_as_they_are() -> None:
    photo = photo_accept(upload=upload(encode(marked_image(), "PNG", icc_profile=srgb_icc())))

    assert reopen(photo).getpixel((2, 2)) == (230, 20, 20)


def test_a_broken_icc_profile_is_dropped_and_the_photo_kept() -> None:
    photo = photo_accept(upload=upload(encode(marked_image(), "PNG", icc_profile=b"not a profile at all")))

    assert "icc_profile" not in reopen(photo).info
    assert red_corner(reopen(photo)) == "top-left"


def test_a_multi_picture_jpeg_keeps_its_primary_image() -> None:
    """Android's Ultra HDR photos are MPO: the photo, then a gain map."""
    mpo = encode(marked_image((64, 48)), "MPO", save_all=True, append_images=[Image.new("L", (16, 12))])
    assert Image.open(BytesIO(mpo)).format == "MPO"

    photo = photo_accept(upload=upload(mpo))

    assert (photo.extension, photo.width, photo.height) == ("jpg", 64, 48)
    assert reopen(photo).format == "JPEG"
    assert getattr(reopen(photo), "n_frames", 1) == 1


def test_a_complete_jpeg_with_a_script_appended_is_accepted_without_the_script() -> None:
    """Trailing data (a script, or a motion photo's video) is not part of the image and is not kept."""
    photo = photo_accept(upload=upload(jpeg_bytes() + b"<script>alert(document.cookie)</script>"))

    assert b"<script" not in photo.content
    assert photo.extension == "jpg"


def test_the_name_and_the_declared_content_type_are_ignored() -> None:
    png_as_jpeg = SimpleUploadedFile("photo.jpg", encode(marked_image(), "PNG"), content_type="image/jpeg")
    jpeg_as_png = SimpleUploadedFile("photo.png", jpeg_bytes(), content_type="image/png")

    assert photo_accept(upload=png_as_jpeg).content_type == "image/png"
    assert photo_accept(upload=jpeg_as_png).content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("name", "display"),
    [
        ("C:\\Users\\李工\\现场照片 1.jpg", "现场照片 1.jpg"),
        ("../../etc/passwd", "passwd"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # a right-to-left override that disguises the extension
        ("bad\x00name\r\n.jpg", "badname.jpg"),
        ("", "photo"),
        (None, "photo"),
        ("a" * 300 + ".jpeg", "a" * 115 + ".jpeg"),
    ],
)
def test_the_original_name_is_kept_for_display_only_and_sanitised(name: str | None, display: str) -> None:
    photo = photo_accept(upload=upload(jpeg_bytes(), name=name))  # type: ignore[arg-type]

    assert photo.original_name == display


def test_it_reads_django_uploads_kept_on_disk_and_plain_files(tmp_path: Path) -> None:
    data = jpeg_bytes()
    on_disk = TemporaryUploadedFile("IMG_0003.jpg", "image/jpeg", len(data), None)
    on_disk.write(data)
    path = tmp_path / "IMG_0004.jpg"
    path.write_bytes(data)

    with path.open("rb") as handle:
        from_file = photo_accept(upload=File(handle, name=path.name))
    from_upload = photo_accept(upload=on_disk)
    on_disk.close()

    assert from_upload.sha256 == from_file.sha256
    assert (from_upload.original_name, from_file.original_name) == ("IMG_0003.jpg", "IMG_0004.jpg")


def test_it_reads_from_the_start_even_when_the_upload_was_read_before() -> None:
    uploaded = upload(jpeg_bytes())
    uploaded.read()

    assert photo_accept(upload=uploaded).width == 64


def test_a_photo_exactly_at_the_limits_is_accepted() -> None:
    data = encode(marked_image((100, 50)), "PNG")

    photo = photo_accept(upload=upload(data), max_bytes=len(data), max_pixels=100 * 50)

    assert (photo.width, photo.height) == (100, 50)
