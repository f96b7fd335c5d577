"""Routes of ``/api/models``: list, read, delete, download, predict and inspect."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import InferenceDep, ModelStoreDep, SettingsDep, TokenDep
from app.schemas import InspectPublic, ModelPublic, PredictPublic, error_responses
from app.services.models import MODEL_ID_PATTERN, ModelStore
from app.services.uploads import multipart_request_body, receive_file

router = APIRouter(prefix="/api/models", tags=["models"])

ModelId = Annotated[
    str,
    Path(
        pattern=MODEL_ID_PATTERN,
        description="Model id: 32 lowercase hex digits, or `default`.",
        examples=["default"],
    ),
]

IMAGE_BODY = multipart_request_body(
    "file",
    "The image: any format and mode Pillow reads. EXIF orientation is applied, animations use "
    "their first frame and transparency is composited on black.",
)


class EncodedJSONResponse(Response):
    """A response whose JSON body was already encoded off the event loop."""

    media_type = "application/json"


async def _check_model_exists(store: ModelStore, model_id: str) -> None:
    # Raise 404 before the upload is read. A model in the memory cache exists, so the common
    # case skips the database query and its trip to a worker thread.
    if not store.is_loaded(model_id):
        await run_in_threadpool(store.get, model_id)


async def _read_image(request: Request, max_bytes: int) -> bytes:
    buffer = io.BytesIO()
    await receive_file(request, field="file", max_bytes=max_bytes, sink=buffer)
    return buffer.getvalue()


@router.get("", response_model=list[ModelPublic], summary="List the models")
def list_models(store: ModelStoreDep) -> list[ModelPublic]:
    """List every model, the shipped default first, then the newest first."""
    return [ModelPublic.from_record(record) for record in store.list()]


@router.get(
    "/{model_id}",
    response_model=ModelPublic,
    summary="Read one model",
    responses=error_responses(404, 422),
)
def read_model(model_id: ModelId, store: ModelStoreDep) -> ModelPublic:
    """Return the record of one model: its classes, layers and metrics."""
    return ModelPublic.from_record(store.get(model_id))


@router.delete(
    "/{model_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a model",
    dependencies=[TokenDep],
    responses=error_responses(401, 404, 409, 422),
)
def delete_model(model_id: ModelId, store: ModelStoreDep) -> Response:
    """Delete a trained model and its weights file. The shipped default model returns 409."""
    store.delete(model_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{model_id}/weights",
    response_class=FileResponse,
    summary="Download the weights file",
    responses={
        200: {
            "content": {"application/octet-stream": {}},
            "description": "The `.npz` file; `cnn_core.serialization.load_model` reads it.",
        },
        **error_responses(404, 422),
    },
)
def download_model_weights(model_id: ModelId, store: ModelStoreDep) -> FileResponse:
    """Download the model as the `.npz` file that `cnn_core.serialization.load_model` reads."""
    path = store.weights_path(model_id)
    return FileResponse(path, media_type="application/octet-stream", filename=f"{model_id}.npz")


@router.post(
    "/{model_id}/predict",
    response_model=PredictPublic,
    summary="Classify an image",
    openapi_extra=IMAGE_BODY,
    responses=error_responses(400, 404, 413, 415, 422),
)
async def predict_image(
    model_id: ModelId,
    request: Request,
    store: ModelStoreDep,
    inference: InferenceDep,
    settings: SettingsDep,
) -> Response:
    """Classify the image in the multipart field `file`: every class, most likely first."""
    await _check_model_exists(store, model_id)
    data = await _read_image(request, settings.max_upload_bytes)
    return EncodedJSONResponse(await inference.predict_json(model_id, data))


@router.post(
    "/{model_id}/inspect",
    response_model=InspectPublic,
    response_model_exclude_none=True,
    summary="Classify an image and return every layer's tensors",
    openapi_extra=IMAGE_BODY,
    responses=error_responses(400, 404, 413, 415, 422),
)
async def inspect_image(
    model_id: ModelId,
    request: Request,
    store: ModelStoreDep,
    inference: InferenceDep,
    settings: SettingsDep,
    layers: Annotated[
        list[str] | None,
        Query(
            description="Layers to return, by index or name; repeat the parameter or separate "
            "with commas. Default: every layer.",
            examples=["conv1,pool1"],
        ),
    ] = None,
) -> Response:
    """Classify the image in `file` and return the exact numbers each layer computed.

    Conv layers add `padded_input`, `weights`, `bias`, `f`, `stride` and `pad`; pooling layers
    add `f`, `stride` and `mode`, and max-pool adds `pool_mask`.
    """
    await _check_model_exists(store, model_id)
    data = await _read_image(request, settings.max_upload_bytes)
    return EncodedJSONResponse(await inference.inspect_json(model_id, data, layers))
