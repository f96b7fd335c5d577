"""HTML pages of the playground: the Jinja2 templates that load the browser code."""

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

# The templates live at the repository root, beside `app/` and `static/`.
TEMPLATES_DIR = Path(__file__).resolve().parents[3] / "templates"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

router = APIRouter(include_in_schema=False)


def _render(request: Request, template: str, page: str, title: str) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"page": page, "title": title})


@router.get("/", response_class=HTMLResponse)
def show_playground(request: Request) -> HTMLResponse:
    """Show the playground: classify an image and look inside every layer."""
    return _render(request, "playground.html", "playground", "Playground")


@router.get("/train", response_class=HTMLResponse)
def show_train(request: Request) -> HTMLResponse:
    """Show the training page: pick data and layers, start a job, watch it learn."""
    return _render(request, "train.html", "train", "Train")


@router.get("/models", response_class=HTMLResponse)
def show_models(request: Request) -> HTMLResponse:
    """Show the list of trained models with download and delete buttons."""
    return _render(request, "models.html", "models", "Models")
