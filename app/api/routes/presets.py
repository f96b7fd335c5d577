"""Routes of /api/presets."""

from fastapi import APIRouter

router = APIRouter()
