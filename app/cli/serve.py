"""``cnn-playground serve``: run the web app under uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import logging

from pydantic import ValidationError

from app.cli.errors import CliError

logger = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    """Build the settings from the environment and the options, then serve until stopped."""
    import uvicorn

    from app.core.config import Settings
    from app.main import create_app

    overrides = {
        name: value
        for name, value in (("host", args.host), ("port", args.port), ("data_dir", args.data_dir))
        if value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        )
        raise CliError(f"invalid settings: {problems}") from None

    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not _is_loopback(settings.host) and settings.api_token is None:
        logger.warning(
            "listening on %s without CNN_PLAYGROUND_API_TOKEN: anyone who can reach this "
            "address can start training jobs, upload datasets and delete models",
            settings.host,
        )

    app = create_app(settings)
    logger.info(
        "starting server on http://%s:%d with data directory %s",
        settings.host,
        settings.port,
        settings.data_dir.resolve(),
    )
    try:
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level)
    finally:
        logger.info("server on %s:%d stopped", settings.host, settings.port)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
