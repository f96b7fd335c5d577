"""Routes of ``/api/datasets``: list the datasets, upload and delete zips of class folders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from app.api.deps import SettingsDep, TokenDep
from app.schemas import DatasetPublic, error_responses
from app.services import datasets as dataset_service
from app.services.datasets import UPLOADED_ID_PATTERN
from app.services.errors import InvalidParameterError
from app.services.models import new_id
from app.services.uploads import multipart_request_body, receive_file

router = APIRouter(prefix="/api/datasets", tags=["datasets"])

ZIP_BODY = multipart_request_body(
    "file",
    "A .zip of one folder per class (`cat/1.png`, `dog/7.jpg`, ...), optionally wrapped in one "
    "top-level folder. Hidden files and `__MACOSX` are ignored; files that are not images are "
    "skipped.",
)


@router.get("", response_model=list[DatasetPublic], summary="List the datasets")
def list_datasets(settings: SettingsDep) -> list[dict]:
    """List the built-in datasets, available or not, then the uploaded ones, newest first."""
    return [info.to_public() for info in dataset_service.list_datasets(settings)]


@router.post(
    "",
    response_model=DatasetPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a dataset",
    dependencies=[TokenDep],
    openapi_extra=ZIP_BODY,
    responses=error_responses(400, 401, 413, 415, 422),
)
async def upload_dataset(
    request: Request,
    settings: SettingsDep,
    name: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Display name; default: the file name."),
    ] = None,
    image_size: Annotated[
        int | None,
        Query(
            ge=4,
            le=128,
            description="Resize every image to this height and width. Default: the size of the "
            "first image, scaled down to a longest side of 64.",
        ),
    ] = None,
    channels: Annotated[
        int | None,
        Query(
            ge=1,
            le=3,
            description="1 (grayscale) or 3 (RGB). Default: from the first image's mode.",
        ),
    ] = None,
) -> dict:
    """Upload a zip of class folders; it becomes a dataset that training jobs can use.

    Every image is read once to check the archive. A fixed 20% of each class is held out as the
    test split. Nothing is stored when the archive is rejected.
    """
    if channels == 2:
        raise InvalidParameterError("channels: must be 1 (grayscale) or 3 (RGB), got 2.")

    settings.datasets_dir.mkdir(parents=True, exist_ok=True)
    upload_path = settings.datasets_dir / f".upload-{new_id()}.part"
    try:
        with upload_path.open("wb") as sink:
            upload = await receive_file(
                request, field="file", max_bytes=settings.max_dataset_bytes, sink=sink
            )
    except BaseException:
        upload_path.unlink(missing_ok=True)
        raise

    label = name or _label_from_filename(upload.filename)
    info = await run_in_threadpool(
        dataset_service.store_uploaded_dataset,
        settings,
        upload_path,
        label=label,
        filename=upload.filename,
        image_size=image_size,
        channels=channels,
    )
    return info.to_public()


@router.delete(
    "/{dataset_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an uploaded dataset",
    dependencies=[TokenDep],
    responses=error_responses(401, 404, 422),
)
def delete_dataset(
    dataset_id: Annotated[
        str, Path(pattern=UPLOADED_ID_PATTERN, description="Id of an uploaded dataset.")
    ],
    settings: SettingsDep,
) -> Response:
    """Delete an uploaded dataset and its zip. Models trained on it stay."""
    dataset_service.delete_uploaded_dataset(settings, dataset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _label_from_filename(filename: str | None) -> str:
    stem = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    if stem.lower().endswith(".zip"):
        stem = stem[: -len(".zip")]
    return stem.strip()[:100] or "Uploaded dataset"
