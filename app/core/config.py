"""Service settings, read from environment variables with the prefix ``CNN_PLAYGROUND_``."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

try:
    VERSION = version("cnn-playground")
except PackageNotFoundError:  # a source tree that was never installed
    VERSION = "0.0.0+unknown"


class Settings(BaseSettings):
    """Every setting of the service; each field is the variable ``CNN_PLAYGROUND_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="CNN_PLAYGROUND_",
        env_file=None,
        extra="ignore",
        validate_default=True,
    )

    data_dir: Path = Field(
        Path("./var"),
        description="Folder holding the SQLite database, model files and uploaded datasets.",
    )
    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port the server listens on.")
    fashion_mnist_dir: Path = Field(
        Path("/usr/share/datasets/fashion-mnist"),
        description="Folder with the Fashion-MNIST IDX files (`*-ubyte.gz`).",
    )
    mnist_dir: Path | None = Field(
        None,
        description="Folder with the MNIST IDX files; MNIST is listed as unavailable when unset.",
    )
    cifar10_dir: Path | None = Field(
        None,
        description="Folder with the CIFAR-10 Python batches; CIFAR-10 is listed as unavailable "
        "when unset.",
    )
    max_upload_bytes: int = Field(
        10_000_000,
        gt=0,
        description="Largest accepted image upload in bytes; larger ones get 413.",
    )
    max_image_pixels: int = Field(
        40_000_000,
        gt=0,
        description="Largest accepted image in pixels (width x height), checked from the header "
        "before decoding; larger ones get 413.",
    )
    max_dataset_bytes: int = Field(
        100_000_000,
        gt=0,
        description="Largest accepted dataset zip upload in bytes; larger ones get 413.",
    )
    max_concurrent_jobs: int = Field(
        1, ge=1, description="Number of training jobs that may run at once; the rest wait queued."
    )
    api_token: str | None = Field(
        None,
        description="When set, creating jobs, uploading datasets and deleting need the header "
        "`Authorization: Bearer <token>`. Reading and classifying stay open.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS, comma-separated or a JSON list. Empty: CORS off.",
    )
    log_level: str = Field(
        "info", description="Logging level: debug, info, warning, error or critical."
    )
    max_epochs: int = Field(
        50, ge=1, description="Largest number of epochs a training job may run."
    )
    max_train_examples: int = Field(
        60_000, ge=1, description="Largest number of training examples a job may use."
    )
    max_layers: int = Field(32, ge=1, description="Largest number of layers in a network spec.")
    max_filters: int = Field(
        128, ge=1, description="Largest number of filters in one conv layer of a training job."
    )
    max_units: int = Field(
        4096, ge=1, description="Largest number of units in one dense layer of a training job."
    )
    inference_threads: int = Field(
        4, ge=1, description="Threads that run predict and inspect requests."
    )
    blas_threads: int = Field(
        1,
        ge=1,
        description="Threads each BLAS call (NumPy matrix product) may use in the server "
        "process. Requests already run in parallel on `inference_threads`, and more BLAS "
        "threads on top of them oversubscribe the cores.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # Accept "a,b" and '["a", "b"]' from the environment as well as a real list.
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return []
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"debug", "info", "warning", "error", "critical"}:
            raise ValueError(
                f"log_level={value!r} is invalid; use debug, info, warning, error or critical"
            )
        return level

    @field_validator("api_token")
    @classmethod
    def _empty_token_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def db_path(self) -> Path:
        """Path of the SQLite database inside the data directory."""
        return self.data_dir / "playground.db"

    @property
    def models_dir(self) -> Path:
        """Folder of the trained model files ``<id>.npz``."""
        return self.data_dir / "models"

    @property
    def datasets_dir(self) -> Path:
        """Folder of the uploaded dataset zips ``<id>.zip``."""
        return self.data_dir / "datasets"


@lru_cache
def get_settings() -> Settings:
    """Return the settings read from the environment, built once per process."""
    return Settings()
