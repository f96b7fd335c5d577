"""Routes of /api/datasets."""

from fastapi import APIRouter

router = APIRouter()
