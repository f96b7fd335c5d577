"""Pydantic schemas of the HTTP API: what each endpoint accepts and returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorPublic(BaseModel):
    """Body of every error response."""

    detail: str = Field(description="What went wrong and, where possible, what to do about it.")


class HealthPublic(BaseModel):
    """Liveness report."""

    status: Literal["ok"] = "ok"
    version: str = Field(description="Version of the installed `cnn-playground` package.")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Build the ``responses`` argument of a route that documents these error statuses."""
    descriptions = {
        400: "Bad request: an empty, truncated or corrupt upload, or an invalid archive.",
        401: "Missing or invalid API token (only when a token is configured).",
        404: "No such resource.",
        409: "The resource cannot be changed in its current state.",
        413: "The upload is larger than the size limit, or the image has too many pixels.",
        415: "The uploaded bytes are not an image (or not a zip archive).",
        422: "Invalid parameters; the detail names the field.",
    }
    return {code: {"model": ErrorPublic, "description": descriptions[code]} for code in codes}


class StrictModel(BaseModel):
    """Base of request bodies: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid")
