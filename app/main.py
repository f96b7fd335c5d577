"""Build the FastAPI application: ``create_app(settings)`` and the module-level ``app``.

Startup creates the data directory and database, then runs the lifespans of the included
routers, so a router that owns a background service (the job queue) declares it with
``APIRouter(lifespan=...)`` and reads ``app.state.settings``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from threadpoolctl import threadpool_limits

from app.api.routes import datasets, health, jobs, models, pages, presets, samples
from app.core.config import VERSION, Settings, get_settings
from app.core.db import init_db
from app.services.errors import ServiceError
from app.services.inference import InferenceService
from app.services.models import ModelStore

logger = logging.getLogger(__name__)

# The browser code lives at the repository root, beside the `app` package.
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

DESCRIPTION = """
Classify images with small convolutional networks, look at the exact numbers every layer
computed, and train new networks on built-in or uploaded datasets.

Every error is a JSON object `{"detail": "..."}` with a 4xx status. A *tensor* is
`{"shape": [...], "dtype": "float32", "data": "<base64 of little-endian float32 values in
C order>"}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for these settings (default: read from the environment)."""
    settings = settings or get_settings()

    app = FastAPI(
        title="CNN Playground",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=_lifespan,
    )
    app.state.settings = settings

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )

    app.add_exception_handler(ServiceError, _service_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(Exception, _unexpected_error_handler)

    for module in (health, presets, datasets, models, jobs, samples, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings

    # NOTE: this limit is process-wide. When the app runs inside another program, such as the
    # tests, it also applies to that program's NumPy calls until shutdown lifts it.
    blas_limits = threadpool_limits(limits=settings.blas_threads, user_api="blas")

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    init_db(settings.db_path)
    store = ModelStore(settings)
    store.sync_shipped_model()
    app.state.model_store = store
    app.state.inference = InferenceService(store, settings)
    logger.info("CNN Playground %s starting with data directory %s", VERSION, settings.data_dir)

    try:
        yield
    finally:
        app.state.inference.close()
        blas_limits.restore_original_limits()
        logger.info("CNN Playground stopped")


async def _service_error_handler(request: Request, exc: ServiceError) -> JSONResponse:
    logger.info(
        "%s %s rejected with %d: %s", request.method, request.url.path, exc.status_code, exc.detail
    )
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Flatten pydantic's error list into one sentence per problem, naming each field, so every
    # error body has the same shape {"detail": "..."}.
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{location}: {error.get('msg', 'invalid value')}")
    detail = "Invalid request: " + "; ".join(problems)

    logger.info("%s %s rejected with 422: %s", request.method, request.url.path, detail)
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("Unexpected error in %s %s", request.method, request.url.path)
    return JSONResponse(
        {"detail": "Internal server error; the server log has the details."},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


app = create_app()
