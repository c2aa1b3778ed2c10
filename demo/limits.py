"""The upload size limit, enforced on every way a photo reaches the server.

Gradio checks ``max_file_size`` on its upload route only.  A photo can also arrive inline, as a
``data:`` URL inside the JSON of an API call, or as a path to a file Gradio fetched itself; and a
request body is read into memory before any of that is looked at.  So:

* :class:`BodyLimit` (ASGI middleware) refuses, with status 413, any other request whose body is
  larger than an inline photo of the limit can be (base64 adds a third), before the app reads it;
* :func:`check_inline` refuses a ``data:`` URL whose decoded size is over the limit, before decoding;
* :func:`check_file` refuses a received file over the limit.
"""

from __future__ import annotations

import os

from mr_core.errors import InvalidParameterError

__all__ = ["MAX_FILE_SIZE", "MAX_UPLOAD_BYTES", "BodyLimit", "check_file", "check_inline"]

#: Largest upload the server accepts, as Gradio's ``max_file_size`` and in bytes (Gradio's "mb" is 2**20).
MAX_FILE_SIZE = "15mb"
MAX_UPLOAD_BYTES = 15 * 1024 * 1024

#: Largest body of a request other than an upload: one photo of the limit sent inline (base64 is 4/3
#: of the bytes) plus room for the rest of the JSON.
MAX_BODY_BYTES = MAX_UPLOAD_BYTES * 4 // 3 + 1024 * 1024

_TOO_LARGE = (
    f"the photo is larger than the {MAX_UPLOAD_BYTES // 2**20} MB upload limit; "
    "send a smaller photo (a JPEG of a few MB is plenty)"
)


def check_inline(data_url: str) -> None:
    """Refuse a ``data:`` URL whose photo would be over the limit, before decoding it."""
    _, _, payload = data_url.partition(",")
    if len(payload) // 4 * 3 > MAX_UPLOAD_BYTES:
        raise InvalidParameterError(_TOO_LARGE)


def check_file(path: str | os.PathLike) -> None:
    """Refuse a received file over the limit (however it arrived)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return  # reading it will say what is wrong with it
    if size > MAX_UPLOAD_BYTES:
        raise InvalidParameterError(_TOO_LARGE)


class BodyLimit:
    """ASGI middleware: a request body over ``MAX_BODY_BYTES`` gets 413 before the app reads it.

    Gradio's upload route streams to disk and checks ``max_file_size`` itself, so it is left alone.
    """

    def __init__(self, app, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/").endswith("/upload"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send)
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send) -> None:
        text = (
            f"Request body too large: the limit is {self.limit} bytes "
            f"(a photo of at most {MAX_UPLOAD_BYTES} bytes)."
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(text)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": text})
