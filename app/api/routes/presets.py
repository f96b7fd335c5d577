"""Routes of ``/api/presets``: the named architectures."""

from __future__ import annotations

from fastapi import APIRouter

from app.schemas import PresetPublic
from cnn_core.presets import PRESETS, preset_layers

router = APIRouter(prefix="/api/presets", tags=["presets"])

# Number of classes used to show a preset's layers; training uses the dataset's own count.
EXAMPLE_N_CLASSES = 10


@router.get("", response_model=list[PresetPublic], summary="List the network presets")
async def list_presets() -> list[PresetPublic]:
    """List every preset with its layers and recommended training settings."""
    return [
        PresetPublic(**preset.to_dict(), layers=preset_layers(name, EXAMPLE_N_CLASSES))
        for name, preset in PRESETS.items()
    ]
