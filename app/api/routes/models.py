"""Routes of /api/models."""

from fastapi import APIRouter

router = APIRouter()
