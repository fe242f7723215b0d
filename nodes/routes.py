"""GET /facespace/names?file=NAME: the face names of a FaceSpace file, for the browser's weight sliders.

Only files offered in the Load FaceSpace dropdown are read, and only their header.
The route is registered when the pack runs inside ComfyUI; the lookup itself is plain Python.
"""
from __future__ import annotations

from facespace.errors import FaceSpaceError

from .comfy import IN_COMFYUI, list_models, model_path

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}


def face_names(file: str | None) -> tuple[int, dict]:
    """(HTTP status, JSON body) for a FaceSpace file name from the models/facespace folders."""
    from facespace.train import read_facespace_info

    if not file:
        return 400, {"error": "give the FaceSpace file as ?file=NAME"}
    if file not in list_models("facespace"):
        return 404, {"error": f"FaceSpace file {file!r} is not in the facespace model folders"}
    try:
        info = read_facespace_info(model_path("facespace", file))
    except (FaceSpaceError, OSError) as exc:
        return 422, {"error": str(exc)}
    return 200, {"file": file, "names": [str(n) for n in info.get("names", [])]}


if IN_COMFYUI:
    from aiohttp import web
    from server import PromptServer

    @PromptServer.instance.routes.get("/facespace/names")
    async def _facespace_names(request):
        status, body = face_names(request.rel_url.query.get("file"))
        return web.json_response(body, status=status)
