"""Dependencies shared by the routers: settings, stores and the API token check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from app.core.config import Settings
from app.services.inference import InferenceService
from app.services.models import ModelStore


# NOTE: the getters in this module are `async def` although they never await. FastAPI runs a
# plain `def` dependency in a worker thread, and each round trip to that thread costs far more
# than reading an attribute of `app.state`.
async def get_app_settings(request: Request) -> Settings:
    """Return the settings the running app was built with."""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def require_token(request: Request, settings: SettingsDep) -> None:
    """Reject the request with 401 unless it carries the configured API token.

    Does nothing when no token is configured. The comparison runs in constant time.
    """
    if settings.api_token is None:
        return

    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Missing API token: send the header 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(credentials.strip().encode(), settings.api_token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="Invalid API token.",
            headers={"WWW-Authenticate": "Bearer"},
        )


TokenDep = Depends(require_token)


async def get_model_store(request: Request) -> ModelStore:
    """Return the model store created at startup."""
    return request.app.state.model_store


async def get_inference(request: Request) -> InferenceService:
    """Return the inference thread pool created at startup."""
    return request.app.state.inference


ModelStoreDep = Annotated[ModelStore, Depends(get_model_store)]
InferenceDep = Annotated[InferenceService, Depends(get_inference)]
