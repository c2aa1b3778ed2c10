"""Malformed API calls get a sentence (status 422), before Gradio sees them.

Gradio answers a call with too few values, or with a function index the app does not have, with a
bare "Error" (or a 500) and writes a traceback to the server's log.  :class:`ApiCheck` (ASGI
middleware) reads the body of ``/gradio_api/queue/join`` and ``/gradio_api/call/<name>`` requests
(already bounded by :class:`~demo.limits.BodyLimit`) and refuses, with one sentence naming the
function and what it takes, a call whose function does not exist or whose ``data`` is not a list of
as many values as the function has inputs.  Everything else goes through untouched.
"""

from __future__ import annotations

import json

__all__ = ["ApiCheck", "check_call"]


def _function(blocks, body: dict, api_name: str | None):
    """The called function (Gradio's BlockFunction), or a sentence saying why there is none."""
    fns = getattr(blocks, "fns", {})
    if api_name is not None:
        for fn in fns.values():
            if fn.api_name == api_name:
                return fn
        return None  # Gradio's own answer for an unknown name is already a 404 with its reason
    index = body.get("fn_index")
    if index is None:
        return None  # (a trigger id: Gradio finds the function itself)
    if isinstance(index, bool) or not isinstance(index, int) or index not in fns:
        return f"there is no function number {str(index)[:20]} in this app (0 to {max(fns, default=0)})"
    return fns[index]


def check_call(blocks, body, api_name: str | None = None) -> str | None:
    """Why the call ``body`` (the JSON of a queue/join or call request) cannot run, or ``None``."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object with a 'data' list"
    fn = _function(blocks, body, api_name)
    if fn is None:
        return None
    if isinstance(fn, str):
        return fn
    data = body.get("data")
    needed = len(fn.inputs)
    name = f"/{fn.api_name}" if fn.api_name else "this function"
    if not isinstance(data, list):
        return f"the call to {name} needs 'data': a list of {needed} values"
    if len(data) != needed:
        labels = [getattr(b, "label", None) or type(b).__name__.lower() for b in fn.inputs]
        shown = ", ".join(
            "null (the session)" if type(b).__name__ == "State" else str(label)
            for b, label in zip(fn.inputs, labels, strict=True)
        )
        given = f"{len(data)} value" + ("" if len(data) == 1 else "s")
        return f"the call to {name} gives {given}, but it takes {needed}: {shown}"
    return None


class ApiCheck:
    """ASGI middleware: a malformed call to a function of the app gets 422 and a sentence."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        api_name = None
        if scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        if path.endswith("/queue/join"):
            pass
        elif "/call/" in path and path.rstrip("/").count("/") >= 2:
            api_name = path.rstrip("/").rsplit("/call/", 1)[-1] or None
            if api_name is None or "/" in api_name:
                await self.app(scope, receive, send)
                return
        else:
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        problem = None
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            problem = "the request body is not JSON"
        else:
            blocks = None
            app = scope.get("app")
            if app is not None and hasattr(app, "get_blocks"):
                try:
                    blocks = app.get_blocks()
                except ValueError:  # no Blocks mounted: nothing to check against
                    blocks = None
            if blocks is not None:
                problem = check_call(blocks, body, api_name)
        if problem is not None:
            text = json.dumps({"detail": problem[0].upper() + problem[1:] + "."}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 422,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(text)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": text})
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
