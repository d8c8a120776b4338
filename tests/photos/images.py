"""Photos built in memory with Pillow and pillow-heif, and hostile files crafted byte by byte."""

from __future__ import annotations

import struct
import zlib
from datetime import datetime
from io import BytesIO
from typing import Any

import pillow_heif
from django.core.files.base import ContentFile
from PIL import ExifTags, Image, ImageCms, TiffImagePlugin

XMP_PACKET = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="SecretPhoneApp 9"/>'
    b"</rdf:RDF></x:xmpmeta>"
)
# Laoshan scenic area, Qingdao: 36°08'30.5" N, 120°36'54.6" E.
QINGDAO_DMS = ((36, 8, 30.5), (120, 36, 54.6))
QINGDAO_LAT = 36 + 8 / 60 + 30.5 / 3600
QINGDAO_LON = 120 + 36 / 60 + 54.6 / 3600


def rational(value: float) -> TiffImagePlugin.IFDRational:
    return TiffImagePlugin.IFDRational(round(value * 1000), 1000)


def build_exif(
    *,
    taken: str | None = "2026:11:03 14:25:07",
    offset: str | None = None,
    subsec: str | None = None,
    dms: tuple[tuple[float, float, float], tuple[float, float, float]] | None = QINGDAO_DMS,
    refs: tuple[str, str] = ("N", "E"),
    orientation: int | None = None,
    gps_status: str | None = None,
    raw_gps: dict[int, Any] | None = None,
) -> Image.Exif:
    """EXIF as a phone writes it: camera make, the time taken and a GPS fix, with Pillow's Exif API."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "HUAWEI"
    exif[ExifTags.Base.Model] = "Inspector Phone 7"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    tags = exif.get_ifd(ExifTags.IFD.Exif)
    if taken is not None:
        tags[ExifTags.Base.DateTimeOriginal] = taken
    if offset is not None:
        tags[ExifTags.Base.OffsetTimeOriginal] = offset
    if subsec is not None:
        tags[ExifTags.Base.SubsecTimeOriginal] = subsec
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    if dms is not None:
        (lat, lon), (lat_ref, lon_ref) = dms, refs
        gps[ExifTags.GPS.GPSLatitudeRef] = lat_ref
        gps[ExifTags.GPS.GPSLatitude] = tuple(rational(part) for part in lat)
        gps[ExifTags.GPS.GPSLongitudeRef] = lon_ref
        gps[ExifTags.GPS.GPSLongitude] = tuple(rational(part) for part in lon)
        gps[ExifTags.GPS.GPSMapDatum] = "WGS-84"
    if gps_status is not None:
        gps[ExifTags.GPS.GPSStatus] = gps_status
    gps.update(raw_gps or {})
    return exif


def marked_image(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    """A picture with a red block in its top-left corner, so a rotation can be seen in the pixels."""
    image = Image.new("RGB", size, (20, 120, 220))
    image.paste((230, 20, 20), (0, 0, size[0] // 4, size[1] // 4))
    return image.convert(mode)


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def jpeg_bytes(*, exif: Image.Exif | None = None, size: tuple[int, int] = (64, 48), **options: Any) -> bytes:
    if exif is None:
        exif = build_exif()
    return encode(marked_image(size), "JPEG", exif=exif, quality=95, **options)


def heic_bytes(*, exif: Image.Exif | None = None, size: tuple[int, int] = (64, 48)) -> bytes:
    pillow_heif.register_heif_opener()
    return encode(marked_image(size), "HEIF", exif=(exif or build_exif()).tobytes(), quality=90)


def upload(data: bytes, name: str = "IMG_0001.jpg") -> ContentFile:
    return ContentFile(data, name=name)


def png_with_header(width: int, height: int, *, rows: int = 64, bit_depth: int = 1) -> bytes:
    """A PNG whose header claims width × height but whose data holds only `rows` rows of zeros.

    Decoding it in full would allocate width × height pixels: the shape of a decompression bomb, without
    making the test build gigabytes of compressed data.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + bytes((width * bit_depth + 7) // 8)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    data = zlib.compress(row * rows, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def taken(text: str, tz: Any) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)


def swapped_primaries_icc() -> bytes:
    """A matrix/TRC RGB monitor profile (ICC v2) whose red and green primaries are sRGB's green and red.

    A pixel (255, 0, 0) tagged with it is green once colour-managed: an unmistakable test of the conversion.
    """

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ " + bytes(4) + s15(x) + s15(y) + s15(z)

    text = b"Swapped primaries"
    description = (
        b"desc"
        + bytes(4)
        + struct.pack(">I", len(text) + 1)
        + text
        + b"\x00"
        + bytes(8)
        + bytes(2)
        + bytes(1)
        + bytes(67)
    )
    gamma = b"curv" + bytes(4) + struct.pack(">IH", 1, 0x0233) + bytes(2)  # 2.2
    tags = [
        (b"desc", description),
        (b"cprt", b"text" + bytes(4) + b"none\x00"),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.3851, 0.7169, 0.0971)),  # sRGB's green (D50)
        (b"gXYZ", xyz(0.4361, 0.2225, 0.0139)),  # sRGB's red
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", gamma),
        (b"gTRC", gamma),
        (b"bTRC", gamma),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + bytes(4)
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(24)
        + struct.pack(">I", 0)
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
    )
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data
