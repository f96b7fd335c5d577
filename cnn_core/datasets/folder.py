"""Datasets made of the user's own images: one subfolder per class, as a folder or a .zip.

Layout: ``root/<class name>/<any path>/<image file>``. A zip may also wrap the class folders in one
top-level folder (``photos.zip`` containing ``photos/cat/1.jpg``), as zipping a folder usually does.
Class names are the folder names in sorted order, and label ``i`` is the ``i``-th class.

Rules:

- Hidden entries (names starting with ``.``) and ``__MACOSX`` folders are ignored. Files that
  Pillow does not recognize as an image (or that are empty) are skipped and listed in ``skipped``.
  Files at the top level, beside the class folders, are also skipped. An image that is truncated,
  corrupt or over the pixel limit is an error naming the file.
- Zip members are read into memory and never extracted. Before any member is read, the member
  names are checked (no absolute paths, no ``..``) and the member count and declared
  uncompressed sizes are checked against ``max_files`` and ``max_total_bytes``. Each member is
  then read with a bound of its declared size, so a member that inflates beyond it is an error.
- Every image goes through ``images.image_to_array`` and ``images.resize_array``, the same
  steps as ``preprocess``, and is rounded to uint8. The target shape is ``image_shape`` when
  given, else the first image's size with 1 channel for grayscale modes and 3 for the others.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
from PIL import Image

from .errors import DatasetError, EmptyImageError, ImageError, UnsupportedImageError
from .images import DEFAULT_MAX_PIXELS, decode_image, image_to_array, quantize, resize_array

MAX_FILES = 200_000
MAX_TOTAL_BYTES = 2 * 1024**3

# Pillow modes whose pictures have one channel; all other modes become RGB.
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


@dataclass(frozen=True)
class _Member:
    """One file of a folder or zip: its class, its name for messages and a reader of its bytes."""

    class_name: str
    name: str
    size: int
    read: Callable[[], bytes]


@dataclass
class FolderData:
    """Images of a folder dataset.

    ``images`` is uint8 of shape (m, n_H, n_W, n_C), ``labels`` int64 of shape (m,), ``classes``
    the class names and ``skipped`` the names of files that were not images.
    """

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    skipped: list[str] = field(default_factory=list)


def _is_ignored(parts: tuple[str, ...]) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def _strip_wrapper(paths: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Drop a single top-level folder that contains the class folders, if there is one."""
    top_folders = {parts[0] for parts in paths if len(parts) >= 2}
    top_files = [parts for parts in paths if len(parts) == 1]
    if len(top_folders) == 1 and not top_files and any(len(parts) >= 3 for parts in paths):
        return [parts[1:] for parts in paths]
    return paths


def _check_totals(source: str, count: int, total_bytes: int, max_files: int, max_total_bytes: int):
    if count > max_files:
        raise DatasetError(
            f"{source!r} contains {count} files, more than the maximum of {max_files}; "
            "use fewer images or raise the limit"
        )
    if total_bytes > max_total_bytes:
        raise DatasetError(
            f"{source!r} contains {total_bytes} bytes of files (uncompressed), more than the "
            f"maximum of {max_total_bytes} bytes; use fewer or smaller images or raise the limit"
        )


def _folder_members(root: Path, max_files: int, max_total_bytes: int) -> list[_Member]:
    files = sorted(path for path in root.rglob("*") if path.is_file())
    relative = [path.relative_to(root).parts for path in files]
    kept = [
        (path, parts) for path, parts in zip(files, relative, strict=True) if not _is_ignored(parts)
    ]
    stripped = _strip_wrapper([parts for _, parts in kept])

    members = [
        _Member(
            parts[0] if len(parts) >= 2 else "", str(path), path.stat().st_size, path.read_bytes
        )
        for (path, _), parts in zip(kept, stripped, strict=True)
    ]
    _check_totals(str(root), len(members), sum(m.size for m in members), max_files, max_total_bytes)
    return members


def _check_member_name(source: str, name: str) -> tuple[str, ...]:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or ":" in (path.parts[0] if path.parts else ""):
        raise DatasetError(
            f"{source!r} is rejected: its entry {name!r} points outside the archive "
            "(absolute path or '..'); build the zip from the folder of class folders"
        )
    return path.parts


def _zip_reader(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str
) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with archive.open(info) as stream:
                data = stream.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
            raise DatasetError(
                f"{source!r}: entry {info.filename!r} is damaged: {error}"
            ) from error
        if len(data) != info.file_size:
            raise DatasetError(
                f"{source!r}: entry {info.filename!r} contains {len(data)} or more bytes but its "
                f"header declares {info.file_size}; the archive is damaged"
            )
        return data

    return read


def _zip_members(
    archive: zipfile.ZipFile, source: str, max_files: int, max_total_bytes: int
) -> list[_Member]:
    infos = [info for info in archive.infolist() if not info.is_dir()]
    named = [(info, _check_member_name(source, info.filename)) for info in infos]
    kept = [(info, parts) for info, parts in named if parts and not _is_ignored(parts)]
    _check_totals(
        source, len(kept), sum(info.file_size for info, _ in kept), max_files, max_total_bytes
    )
    encrypted = [info.filename for info, _ in kept if info.flag_bits & 0x1]
    if encrypted:
        raise DatasetError(
            f"{source!r} contains encrypted entries such as {encrypted[0]!r}; use a zip without a "
            "password"
        )

    stripped = _strip_wrapper([parts for _, parts in kept])
    members = [
        _Member(
            parts[0] if len(parts) >= 2 else "",
            info.filename,
            info.file_size,
            _zip_reader(archive, info, source),
        )
        for (info, _), parts in zip(kept, stripped, strict=True)
    ]
    return sorted(members, key=lambda member: (member.class_name, member.name))


def _decode(member: _Member, max_pixels: int) -> Image.Image | None:
    """Decode one member, returning None for a file that is not an image."""
    try:
        return decode_image(member.read(), max_pixels=max_pixels)
    except (UnsupportedImageError, EmptyImageError):
        return None
    except ImageError as error:
        raise DatasetError(f"{member.name!r} could not be read as an image: {error}") from None


def _build(
    source: str,
    members: list[_Member],
    image_shape: tuple[int, int, int] | None,
    max_pixels: int,
) -> FolderData:
    classes = sorted({member.class_name for member in members if member.class_name})
    if not classes:
        raise DatasetError(
            f"{source!r} contains no class folders; put the images of each class in a folder "
            "named after the class (for example cat/1.png, dog/2.png)"
        )
    if len(classes) < 2:
        raise DatasetError(
            f"{source!r} contains only the class folder {classes[0]!r}; a classifier needs "
            "at least two classes"
        )

    label_of = {name: index for index, name in enumerate(classes)}
    arrays, labels, skipped = [], [], []
    for member in members:
        image = _decode(member, max_pixels) if member.class_name else None
        if image is None:
            skipped.append(member.name)
            continue
        if image_shape is None:
            image_shape = (image.height, image.width, 1 if image.mode in GRAY_MODES else 3)
        x = resize_array(image_to_array(image, image_shape[2]), image_shape[:2])
        arrays.append(quantize(x))
        labels.append(label_of[member.class_name])

    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    empty = [name for name, count in zip(classes, counts, strict=True) if count == 0]
    if empty:
        raise DatasetError(
            f"{source!r}: the class folder {empty[0]!r} has no readable images; add images to it "
            "or remove it"
        )
    return FolderData(np.stack(arrays), np.asarray(labels, dtype=np.int64), classes, skipped)


def read_image_folder(
    source: str | PathLike[str] | BinaryIO,
    *,
    image_shape: tuple[int, int, int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_files: int = MAX_FILES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> FolderData:
    """Read a folder of class folders, or a .zip of one, into uint8 NHWC images and labels.

    ``source`` is a directory, a zip file path or a binary file object of a zip. ``image_shape``
    is the (n_H, n_W, n_C) that every image is brought to, with n_C 1 or 3. Raises
    ``DatasetError`` for a missing source, no class folders, a class without readable images, a
    damaged image, unsafe zip entry names, and more files or bytes than the limits allow.
    """
    if image_shape is not None:
        from .images import check_input_shape

        image_shape = check_input_shape(image_shape)
        if image_shape[2] not in (1, 3):
            raise ValueError(f"image_shape must have 1 or 3 channels, got {image_shape!r}")

    if not isinstance(source, (str, PathLike)):
        name = getattr(source, "name", "<zip upload>")
        return _read_zip(source, str(name), image_shape, max_pixels, max_files, max_total_bytes)

    path = Path(source)
    if path.is_dir():
        members = _folder_members(path, max_files, max_total_bytes)
        return _build(str(path), members, image_shape, max_pixels)
    if not path.exists():
        raise DatasetError(f"{str(path)!r} was not found; give a folder of class folders or a .zip")
    if not zipfile.is_zipfile(path):
        raise DatasetError(
            f"{str(path)!r} is neither a folder nor a zip file; give a folder of class folders "
            "or a .zip of one"
        )
    return _read_zip(path, str(path), image_shape, max_pixels, max_files, max_total_bytes)


def _read_zip(source, name, image_shape, max_pixels, max_files, max_total_bytes) -> FolderData:
    try:
        with zipfile.ZipFile(source) as archive:
            members = _zip_members(archive, name, max_files, max_total_bytes)
            return _build(name, members, image_shape, max_pixels)
    except zipfile.BadZipFile as error:
        raise DatasetError(f"{name!r} is not a valid zip file: {error}") from error
