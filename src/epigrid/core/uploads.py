"""Photos users upload (task evidence, service photos): verified images, re-encoded, kept private.

`verified_photo(upload)` is the one gate every uploaded photo passes through (the services call
it, so a page, the API or a command cannot skip it). It accepts a file only when Pillow decodes
it completely as one of `IMAGE_FORMATS` (JPEG, PNG, WebP) within `UPLOAD_IMAGE_MAX_BYTES` and
`UPLOAD_IMAGE_MAX_PIXELS` (the decompression-bomb guard: the size in the header is checked before
any pixel is decoded). Anything else — an HTML or SVG file whatever its name, a ZIP, a GIF, a
truncated image, an image that also carries markup or an archive (a polyglot) — is a
`DomainError` (400) with a message in both languages.

What is stored is never the upload itself but a new encoding of its pixels: EXIF (the GPS
position of the phone, its serial number), comments, ICC profiles, text chunks and anything
appended after the image are gone, and the file gets a random name
with the extension of its verified format, never the client's file name.

The files live in the "private" storage (`PrivateStorage`, at `PRIVATE_MEDIA_ROOT`), which has no
URL: they are read only through a view that first loads the owning object with `get_for(user,
VIEW, …)` and answers with `photo_response`.
"""

import io
import re
import uuid
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.http import FileResponse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DomainError
from .scoping import not_found


@dataclass(frozen=True)
class ImageFormat:
    extension: str
    content_type: str
    save_options: dict


# Pillow's format name -> how it is stored and served. Only these decoders are ever tried.
IMAGE_FORMATS = {
    "JPEG": ImageFormat("jpg", "image/jpeg", {"quality": 85}),
    "PNG": ImageFormat("png", "image/png", {}),
    "WEBP": ImageFormat("webp", "image/webp", {"quality": 85}),
}
CONTENT_TYPES = {f.extension: f.content_type for f in IMAGE_FORMATS.values()}
# A JPEG holding several pictures (phones' portrait or depth shots, "MPF") opens as MPO: it is a
# JPEG, and its first picture is the photo.
_DECODERS = {"MPO": "JPEG"}


class PrivateStorage(FileSystemStorage):
    """Files under `settings.PRIVATE_MEDIA_ROOT` that no URL serves: `url()` refuses, owner-only
    permissions. Outside STATIC_ROOT and never routed; see `photo_response` for reading."""

    def __init__(self, location=None, **kwargs):
        kwargs.setdefault("file_permissions_mode", 0o600)
        kwargs.setdefault("directory_permissions_mode", 0o700)
        super().__init__(location=location, **kwargs)

    @cached_property
    def base_location(self):
        return self._value_or_setting(self._location, settings.PRIVATE_MEDIA_ROOT)

    def _clear_cached_properties(self, setting, **kwargs):
        super()._clear_cached_properties(setting, **kwargs)
        if setting == "PRIVATE_MEDIA_ROOT":
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)

    def url(self, name):
        raise ValueError("A private file has no URL: serve it through its scoped view.")


def private_storage():
    """The `storage=` of private file fields (a callable, so migrations name no path)."""
    return storages["private"]


def _too_large() -> DomainError:
    return DomainError(
        "photo_too_large",
        _("The photo is too large: at most %(megabytes)s MB and %(megapixels)s megapixels."),
        field="photo",
        params={
            "megabytes": settings.UPLOAD_IMAGE_MAX_BYTES // (1024 * 1024),
            "megapixels": settings.UPLOAD_IMAGE_MAX_PIXELS // 1_000_000,
        },
    )


def _not_an_image() -> DomainError:
    return DomainError("photo_type", _("Upload a photo: a JPEG, PNG or WebP image."), field="photo")


def _payload() -> DomainError:
    return DomainError(
        "photo_payload",
        _("The file holds more than a photo (markup or an archive): upload the photo itself."),
        field="photo",
    )


def _damaged() -> DomainError:
    return DomainError("photo_damaged", _("The photo is damaged or incomplete: take it again."), field="photo")


def _read_bounded(upload) -> bytes:
    limit = settings.UPLOAD_IMAGE_MAX_BYTES
    if (getattr(upload, "size", None) or 0) > limit:
        raise _too_large()
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise _too_large()
    if not data:
        raise _not_an_image()
    return data


# What a photo never carries but a polyglot (a file that is an image and an HTML page or an archive
# at once) does. Only long tags: the random-looking data of a 10 MB photo matches one of these by
# chance less than once in ten million photos (a short one such as "<svg " would once in 2000).
# A heuristic on top: what is stored is re-encoded anyway.
_MARKUP = re.compile(rb"<(?:script|iframe|object|embed|!doctype)[\s>/]", re.IGNORECASE)


def _carries_payload(data: bytes) -> bool:
    if _MARKUP.search(data):
        return True
    try:  # an archive whose central directory reads (a JAR/ZIP appended to the image)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return bool(archive.infolist())
    except Exception:  # not an archive, however it fails to be one
        return False


def _decode(data: bytes) -> tuple[Image.Image, str]:
    """The fully decoded image and its format, or the refusal."""
    formats = list(IMAGE_FORMATS)  # the JPEG decoder also gives MPO
    try:
        with warnings.catch_warnings():
            # Our own pixel limit decides (below), and what a damaged file makes Pillow warn about
            # (a truncated EXIF block) is answered by the refusal or dropped with the EXIF.
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data), formats=formats) as probe:
                kind = probe.format
                width, height = probe.size
                if width * height > settings.UPLOAD_IMAGE_MAX_PIXELS:  # before any pixel is decoded
                    raise _too_large()
                probe.verify()
            image = Image.open(io.BytesIO(data), formats=formats)
            if image.format in ("JPEG", "MPO"):  # a large JPEG is decoded at a fraction of its size
                side = settings.UPLOAD_IMAGE_MAX_SIDE
                image.draft("RGB", (side, side))
            image.load()  # every pixel: a truncated or corrupt image fails here
    except DomainError:
        raise
    except Image.DecompressionBombError:
        raise _too_large() from None
    except UnidentifiedImageError:
        raise _not_an_image() from None
    except Exception:  # hostile input makes decoders raise many kinds of errors
        raise _damaged() from None
    if _carries_payload(data):
        image.close()
        raise _payload()
    return image, _DECODERS.get(kind, kind)


def verified_photo(upload) -> ContentFile:
    """The upload as a new, clean image file with a random name, or a DomainError (400)."""
    decoded, kind = _decode(_read_bounded(upload))
    fmt = IMAGE_FORMATS[kind]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a damaged EXIF block warns; it is dropped anyway
            side = settings.UPLOAD_IMAGE_MAX_SIDE
            decoded.thumbnail((side, side))  # only ever shrinks
            # The orientation lives in the EXIF that is dropped: apply it to the pixels first.
            image = ImageOps.exif_transpose(decoded)
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            mode = "RGBA" if has_alpha and kind != "JPEG" else "RGB"
            pixels = image.convert(mode)
            # A new image from the raw pixels: no info, no EXIF, no palette tricks carried over.
            clean = Image.frombytes(mode, pixels.size, pixels.tobytes())
            out = io.BytesIO()
            clean.save(out, format=kind, **fmt.save_options)
    except Exception:  # see _decode
        raise _damaged() from None
    finally:
        decoded.close()
    return ContentFile(out.getvalue(), name=f"{uuid.uuid4().hex}.{fmt.extension}")


def photo_response(field_file, *, download_name: str) -> FileResponse:
    """Stream a stored photo to a reader the caller has already authorized (404 when there is
    none, or when the file is not one `verified_photo` wrote). Served inline as the image type
    its verified extension says, never sniffed, never cached, and sandboxed should a browser be
    asked to render it as a document."""
    if not field_file:
        raise not_found()
    extension = PurePosixPath(field_file.name).suffix.lstrip(".").lower()
    content_type = CONTENT_TYPES.get(extension)
    if content_type is None:
        raise not_found()
    try:
        handle = field_file.storage.open(field_file.name, "rb")
    except (FileNotFoundError, IsADirectoryError, SuspiciousFileOperation):
        raise not_found() from None
    response = FileResponse(handle, content_type=content_type, filename=f"{download_name}.{extension}")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
