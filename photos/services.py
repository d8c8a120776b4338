"""Photo intake: accept JPEG/PNG/WebP/HEIC by content within size and pixel limits, re-encode without metadata.

`photo_accept` only reads and decodes; it writes nothing. Storing is `photos.storage.saving_photos`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import struct
import unicodedata
import warnings
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from io import BytesIO
from typing import IO, Any, Final
from zoneinfo import ZoneInfo

import pillow_heif
from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.core.files import File
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

# HEIC is what iPhones shoot. Depth maps, auxiliary images and thumbnails are never used here, so
# libheif is not asked to parse them.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

DEFAULT_MAX_BYTES: Final = 20 * 1024 * 1024
# 48 MP phone sensors (8000 × 6000) pass; decoded RGBA at this size is ~200 MB of memory.
DEFAULT_MAX_PIXELS: Final = 50_000_000
# Phone clocks in the city write local time without an offset; EXIF has no zone unless OffsetTimeOriginal is set.
PHOTO_LOCAL_TIMEZONE: Final = ZoneInfo("Asia/Shanghai")

_READ_CHUNK: Final = 64 * 1024
_MAX_NAME_LENGTH: Final = 120
# Pillow's format ids tried on open; nothing else is even parsed. "JPEG" also yields MPO (multi-picture JPEG:
# Android's Ultra HDR gain maps, some cameras), whose first frame is the photo.
_OPEN_FORMATS: Final = ("JPEG", "PNG", "WEBP", "HEIF")
# The ways a decoder reports a damaged file. Pillow and libheif use all of these.
_DECODE_ERRORS: Final = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, RuntimeError, struct.error)
_EXIF_ERRORS: Final = (*_DECODE_ERRORS, KeyError, AttributeError, ArithmeticError, UnicodeError, zlib.error)

_ORIENTATION_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_OUTPUT: Final = {  # Pillow format -> (extension, content type, save options)
    "JPEG": ("jpg", "image/jpeg", {"quality": 90}),
    "PNG": ("png", "image/png", {"compress_level": 6}),
    "WEBP": ("webp", "image/webp", {"quality": 90, "method": 4}),
}
_OFFSET_RE: Final = re.compile(r"^([+-])(\d{2}):(\d{2})$")
_DATETIME_RE: Final = re.compile(r"^(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


class PhotoRejected(ValidationError):
    """An upload that is not accepted; the message says why, in the user's language. `code` is stable."""

    def __init__(self, message: Any, *, code: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=code, params=params)


@dataclass(frozen=True)
class AcceptedPhoto:
    content: bytes  # re-encoded pixels only: no EXIF, XMP, ICC profile, comments or text chunks
    extension: str  # "jpg" | "png" | "webp" (HEIC becomes JPEG, which every browser shows)
    content_type: str
    width: int  # after the EXIF orientation was applied
    height: int
    taken_at: datetime | None  # EXIF DateTimeOriginal, tz-aware
    gps: Point | None  # EXIF GPS position, WGS 84 (srid 4326)
    sha256: str  # of content
    original_name: str  # for display only; never used as a path


def photo_accept(
    *, upload: File | IO[bytes], max_bytes: int | None = None, max_pixels: int | None = None
) -> AcceptedPhoto:
    """Check an upload by its content and return it re-encoded without metadata, or raise PhotoRejected.

    The upload's name and declared content type are ignored. Limits default to settings.PHOTO_MAX_BYTES and
    settings.PHOTO_MAX_PIXELS. The pixel limit is checked on the header, before any pixel is decoded; Pillow's
    own guard (Image.MAX_IMAGE_PIXELS) stays active too, so the effective limit is the smaller of the two.
    Animated PNG/WebP are refused (evidence must be the still the reporter saw, and frames multiply the
    decoding cost); for multi-image JPEG (MPO) and HEIC the primary image is taken, as the phone shows it.
    """
    max_bytes = max_bytes if max_bytes is not None else getattr(settings, "PHOTO_MAX_BYTES", DEFAULT_MAX_BYTES)
    max_pixels = max_pixels if max_pixels is not None else getattr(settings, "PHOTO_MAX_PIXELS", DEFAULT_MAX_PIXELS)
    data = _read_at_most(upload, max_bytes)
    if not data:
        raise PhotoRejected(_("The file is empty."), code="empty")
    kind = _sniff(data)

    image = _open(data, kind, max_pixels)
    try:
        _decode(image, kind)
        exif = _exif(image)
        taken_at, gps = _taken_at(exif), _gps(exif)
        output_format = "JPEG" if image.format in ("JPEG", "MPO", "HEIF") else str(image.format)
        pixels = _normalise(image, keep_alpha=output_format != "JPEG")
        method = _ORIENTATION_TRANSPOSE.get(_orientation(exif))
        if method is not None:  # not truthiness: FLIP_LEFT_RIGHT is 0
            pixels = pixels.transpose(method)
        # A fresh image carries no info dict, so no writer can copy EXIF, XMP, ICC, comments or text chunks.
        clean = Image.new("RGB" if output_format == "WEBP" and pixels.mode == "L" else pixels.mode, pixels.size)
        clean.paste(pixels)
    finally:
        image.close()
    extension, content_type, options = _OUTPUT[output_format]
    buffer = BytesIO()
    clean.save(buffer, format=output_format, **options)
    content = buffer.getvalue()
    return AcceptedPhoto(
        content=content,
        extension=extension,
        content_type=content_type,
        width=clean.width,
        height=clean.height,
        taken_at=taken_at,
        gps=gps,
        sha256=hashlib.sha256(content).hexdigest(),
        original_name=_display_name(getattr(upload, "name", None)),
    )


def _read_at_most(upload: File | IO[bytes], max_bytes: int) -> bytes:
    """Read the upload, stopping one byte past the limit, so a huge stream is never held in memory."""
    too_large = PhotoRejected(
        _("The photo is larger than %(limit)s."), code="too_large", params={"limit": filesizeformat(max_bytes)}
    )
    try:
        declared = upload.size  # type: ignore[union-attr]
    except (AttributeError, OSError, ValueError):
        declared = None
    if isinstance(declared, int) and declared > max_bytes:
        raise too_large
    if getattr(upload, "closed", False) and hasattr(upload, "open"):
        upload.open("rb")
    with contextlib.suppress(AttributeError, OSError, ValueError):
        upload.seek(0)  # a stream that cannot seek is read from where it stands
    buffer = bytearray()
    while len(buffer) <= max_bytes:
        chunk = upload.read(min(_READ_CHUNK, max_bytes + 1 - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    if len(buffer) > max_bytes:
        raise too_large
    return bytes(buffer)


def _sniff(data: bytes) -> str:
    """Name what the bytes are, from their signature, for messages; Pillow still decides what is accepted."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"):
            return "HEIC"
        return "video"
    signatures = (
        (b"GIF8", "GIF"),
        (b"%PDF-", "PDF"),
        (b"PK\x03\x04", "ZIP"),
        (b"PK\x05\x06", "ZIP"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"BM", "BMP"),
        (b"\x1f\x8b", "gzip"),
        (b"Rar!", "RAR"),
        (b"7z\xbc\xaf", "7z"),
        (b"MZ", "Windows executable"),
        (b"\x7fELF", "executable"),
    )
    for signature, kind in signatures:
        if head.startswith(signature):
            return kind
    text = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return "SVG"
    if text.startswith((b"<!doctype html", b"<html", b"<script", b"<head", b"<body")):
        return "HTML"
    if text.startswith(b"<?xml"):
        return "XML"
    if text.startswith(b"#!"):
        return "script"
    return "unknown"


def _open(data: bytes, kind: str, max_pixels: int) -> Image.Image:
    """Parse the header only, and refuse what is not an accepted format or has too many pixels."""
    if Image.MAX_IMAGE_PIXELS is not None:
        max_pixels = min(max_pixels, Image.MAX_IMAGE_PIXELS)
    too_many_pixels = PhotoRejected(
        _("The photo has more than %(limit)s megapixels."),
        code="too_many_pixels",
        params={"limit": f"{max_pixels / 1_000_000:.3g}"},
    )
    try:
        # Pillow's bomb warning (over Image.MAX_IMAGE_PIXELS) becomes an error here, like its hard limit.
        # catch_warnings is process-wide on Python 3.11: a thread racing it at worst sees the same filter.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(data), formats=_OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_many_pixels from None
    except (UnidentifiedImageError, *_DECODE_ERRORS):
        if kind in ("JPEG", "PNG", "WebP", "HEIC"):
            raise PhotoRejected(
                _("The %(format)s file is damaged or incomplete."), code="corrupt", params={"format": kind}
            ) from None
        if kind == "unknown":
            raise PhotoRejected(
                _("This file is not a photo in an accepted format (JPEG, PNG, WebP or HEIC)."), code="not_an_image"
            ) from None
        raise PhotoRejected(
            _("This file is not a photo in an accepted format (JPEG, PNG, WebP or HEIC): its content is %(kind)s."),
            code="not_an_image",
            params={"kind": kind},
        ) from None
    width, height = image.size
    if width <= 0 or height <= 0:
        image.close()
        raise PhotoRejected(_("The %(format)s file is damaged or incomplete."), code="corrupt", params={"format": kind})
    if width * height > max_pixels:
        image.close()
        raise too_many_pixels
    if image.format in ("PNG", "WEBP") and getattr(image, "is_animated", False):
        image.close()
        raise PhotoRejected(_("Animated images are not accepted; send a still photo."), code="animated")
    return image


def _decode(image: Image.Image, kind: str) -> None:
    """Decode every pixel now, so a truncated or corrupt file is refused here and not half-saved later."""
    try:
        image.load()
    except _DECODE_ERRORS:
        raise PhotoRejected(
            _("The %(format)s file is damaged or incomplete."), code="corrupt", params={"format": kind}
        ) from None


def _normalise(image: Image.Image, *, keep_alpha: bool) -> Image.Image:
    """Pixels in L, RGB or RGBA, in sRGB: CMYK, palette, 16-bit and colour-managed images made plain."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    elif image.mode in ("F", "1"):
        image = image.convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if image.mode in ("P", "PA") or (has_alpha and image.mode != "RGBA"):
        image = image.convert("RGBA" if has_alpha else "RGB")
    image = _to_srgb(image)
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGB")
    if image.mode == "RGBA" and not keep_alpha:
        # JPEG has no alpha: flatten on white, as a browser would show it on a page.
        flat = Image.new("RGB", image.size, "white")
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    """Apply an embedded ICC profile (Display P3 on iPhones, CMYK press profiles) before the profile is dropped."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        profile = ImageCms.ImageCmsProfile(BytesIO(icc))
        # Most Android phones embed sRGB itself: converting it to sRGB would cost ~0.5 s per 12 MP for nothing.
        if image.mode != "CMYK" and "srgb" in ImageCms.getProfileDescription(profile).lower():
            return image
        alpha = image.getchannel("A") if image.mode == "RGBA" else None
        source = image.convert("RGB") if alpha is not None else image
        converted = ImageCms.profileToProfile(source, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # a broken profile: keep the pixels as they are rather than refuse the photo
    if converted is None:
        return image
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


def _exif(image: Image.Image) -> Image.Exif | None:
    """The EXIF block, or None if absent or unreadable: bad metadata never costs the reporter the photo."""
    try:
        exif = image.getexif()
        exif.get_ifd(ExifTags.IFD.Exif)
        exif.get_ifd(ExifTags.IFD.GPSInfo)
    except _EXIF_ERRORS:
        return None
    return exif


def _orientation(exif: Image.Exif | None) -> int:
    value = exif.get(ExifTags.Base.Orientation) if exif is not None else None
    return value if isinstance(value, int) else 1


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return value.strip("\x00 ") if isinstance(value, str) else None


def _taken_at(exif: Image.Exif | None) -> datetime | None:
    """DateTimeOriginal with its sub-seconds, in OffsetTimeOriginal's zone if given, else Asia/Shanghai."""
    if exif is None:
        return None
    tags = exif.get_ifd(ExifTags.IFD.Exif)
    raw = _text(tags.get(ExifTags.Base.DateTimeOriginal))
    match = _DATETIME_RE.match(raw or "")
    if not match:
        return None
    zone: timezone | ZoneInfo = PHOTO_LOCAL_TIMEZONE
    if offset := _OFFSET_RE.match(_text(tags.get(ExifTags.Base.OffsetTimeOriginal)) or ""):
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta <= timedelta(hours=14) and int(minutes) < 60:
            zone = timezone(-delta if sign == "-" else delta)
    subsec = _text(tags.get(ExifTags.Base.SubsecTimeOriginal)) or ""
    microsecond = int(subsec[:6].ljust(6, "0")) if subsec.isdigit() else 0
    try:
        return datetime(*(int(part) for part in match.groups()), microsecond, tzinfo=zone)  # type: ignore[misc]
    except ValueError:  # "0000:00:00 00:00:00" and other impossible dates from reset clocks
        return None


def _gps(exif: Image.Exif | None) -> Point | None:
    """The EXIF GPS position as a WGS 84 point, or None when absent, void, out of range or at (0, 0)."""
    if exif is None:
        return None
    tags = exif.get_ifd(ExifTags.IFD.GPSInfo)
    if _text(tags.get(ExifTags.GPS.GPSStatus)) == "V":  # "void": the receiver had no fix
        return None
    try:
        lat = _degrees(tags.get(ExifTags.GPS.GPSLatitude), _text(tags.get(ExifTags.GPS.GPSLatitudeRef)), "N", "S")
        lon = _degrees(tags.get(ExifTags.GPS.GPSLongitude), _text(tags.get(ExifTags.GPS.GPSLongitudeRef)), "E", "W")
    except (TypeError, ValueError, ArithmeticError):
        return None
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180 or (lat == 0 and lon == 0):
        return None
    return Point(lon, lat, srid=4326)


def _degrees(value: Any, ref: str | None, positive: str, negative: str) -> float | None:
    if not isinstance(value, tuple | list) or len(value) != 3 or ref not in (positive, negative):
        return None
    degrees, minutes, seconds = (float(part) for part in value)  # a zero denominator reads as nan
    result = degrees + minutes / 60 + seconds / 3600
    if not math.isfinite(result) or min(degrees, minutes, seconds) < 0:
        return None
    return -result if ref == negative else result


def _display_name(name: str | None) -> str:
    """The last path segment, without control or direction-override characters, at most 120 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(char for char in base if not unicodedata.category(char).startswith("C"))
    base = " ".join(base.split())
    if len(base) > _MAX_NAME_LENGTH:
        stem, dot, suffix = base.rpartition(".")
        base = f"{stem[: _MAX_NAME_LENGTH - len(suffix) - 1]}.{suffix}" if dot and len(suffix) <= 10 else base
        base = base[:_MAX_NAME_LENGTH]
    return base or "photo"
