"""Liveness endpoint."""

from __future__ import annotations

from fastapi import APIRouter

from app.core.config import VERSION
from app.schemas import HealthPublic

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=HealthPublic, summary="Check that the service is up")
async def read_health() -> HealthPublic:
    """Return `ok` and the service version. It reads neither the database nor the engine."""
    return HealthPublic(status="ok", version=VERSION)
