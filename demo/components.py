"""Two small variations of ``gr.Image`` (ordinary image components with one method replaced).

* :func:`photo_input` hands the uploaded file to the function untouched (a path, or the bytes of
  a webcam shot sent inline), so that ``mr_core.imageio.read_image`` reads it: EXIF orientation
  applied, and a file that is not an image or is too large is refused with a sentence instead of
  an exception inside Gradio's own decoding.
* :func:`photo_output` stores small results as PNG (lossless) and large ones as high-quality JPEG
  (a 12-megapixel PNG takes seconds to encode); :func:`crops_output` is the before/after slider.
  Both write their files atomically: concurrent requests that produce the same image share one
  content-addressed file, which must never be seen half-written.

* :func:`checked_slider` and :func:`checked_radio` check a value sent through the API before Gradio
  does: a string for a number, or a backend that is not offered, gets one sentence naming the field
  (Gradio's own checks answer a generic error and print a traceback in the server's log);
  :func:`require_files` does the same for a file input sent something that is not a file (a bare
  path string where ``handle_file(path)`` was meant).

They replace the method on the instance rather than subclass ``gr.Image``: Gradio writes a
``.pyi`` stub next to the source of every component subclass it sees, which an app must not do.
Every ``gr.Error`` raised here is the user's mistake, so none prints a traceback on the server.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import html
import io
import math
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.data_classes import GradioRootModel, ImageData
from gradio_client import handle_file
from PIL import Image
from pydantic import ConfigDict

from mr_core.atomic import atomic_write_bytes
from mr_core.errors import InvalidParameterError

from .examples import example_photos, example_url
from .limits import check_file, check_inline

__all__ = [
    "checked_radio",
    "checked_slider",
    "crops_output",
    "photo_input",
    "photo_output",
    "require_files",
    "user_error",
    "with_example",
]

#: The example photo of the API page where this server cannot offer its own (the public-domain
#: portrait of Grace Hopper that matplotlib ships) instead of Gradio's placeholder, which has no face.
#: Only shown there, never fetched here.
EXAMPLE_PHOTO_URL = "https://raw.githubusercontent.com/matplotlib/matplotlib/main/lib/matplotlib/mpl-data/sample_data/grace_hopper.jpg"

#: Results up to this many pixels are PNG, larger ones JPEG.
PNG_MAX_PIXELS = 4_000_000


def user_error(message: str) -> gr.Error:
    """A ``gr.Error`` for a request's mistake: shown to the user, no traceback in the server's log."""
    return gr.Error(message, print_exception=False)


def _pass_file(payload: ImageData | None) -> str | bytes | None:
    """The uploaded file's path, or the bytes of an image sent inline as a data: URL."""
    if payload is None:
        return None
    if payload.url and payload.url.startswith("data:"):
        try:
            check_inline(payload.url)
        except InvalidParameterError as exc:
            raise user_error(_capital(str(exc))) from None
        _, _, data = payload.url.partition(",")
        try:
            return base64.b64decode(data, validate=False)
        except (binascii.Error, ValueError):
            raise user_error(
                "The photo sent by the browser could not be decoded; please try again."
            ) from None
    if payload.path is None:
        return None
    try:
        check_file(payload.path)
    except InvalidParameterError as exc:
        raise user_error(_capital(str(exc))) from None
    return str(payload.path)


def _capital(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _write_cached(cache_dir: str, data: bytes, suffix: str) -> Path:
    """Store encoded image bytes under a content-addressed name, atomically.

    Concurrent requests that produce the same image share one file; it appears whole (temp file +
    rename), so a client downloading it never sees it half-written.
    """
    folder = Path(cache_dir) / hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"result.{suffix}"
    if not path.is_file():
        atomic_write_bytes(path, data, make_parents=False)
    return path


def _encode(arr: np.ndarray) -> tuple[bytes, str]:
    """PNG up to PNG_MAX_PIXELS (and always with alpha), high-quality JPEG above."""
    arr = np.ascontiguousarray(arr)
    mode = "RGBA" if arr.ndim == 3 and arr.shape[2] == 4 else "RGB"
    im = Image.fromarray(arr, mode)
    buf = io.BytesIO()
    if mode == "RGBA":
        im.save(buf, format="PNG", compress_level=1 if arr.shape[0] * arr.shape[1] > PNG_MAX_PIXELS else 6)
        suffix = "png"
    elif arr.shape[0] * arr.shape[1] <= PNG_MAX_PIXELS:
        im.save(buf, format="PNG")
        suffix = "png"
    else:
        im.save(buf, format="JPEG", quality=93, subsampling=0)
        suffix = "jpg"
    return buf.getvalue(), suffix


def _store_result(component: gr.Image, value) -> ImageData | None:
    """Write an array to Gradio's cache as PNG (up to PNG_MAX_PIXELS) or JPEG; others as usual."""
    if not isinstance(value, np.ndarray):
        return gr.Image.postprocess(component, value)
    path = _write_cached(component.GRADIO_CACHE, *_encode(value))
    return ImageData(path=str(path), orig_name=path.name)


def _store_pair(component: gr.ImageSlider, value):
    """The before/after crops, written like the result photo (atomically) before the slider sees them."""
    if value is not None and all(isinstance(v, np.ndarray) for v in value):
        value = tuple(str(_write_cached(component.GRADIO_CACHE, *_encode(v))) for v in value)
    return gr.ImageSlider.postprocess(component, value)


def photo_input(**kwargs) -> gr.Image:
    """A ``gr.Image(type="filepath")`` whose function receives the file itself, never decoded pixels."""
    component = gr.Image(type="filepath", image_mode=None, **kwargs)
    component.preprocess = _pass_file
    require_files(component, "photo")
    photos = example_photos()
    url = example_url(photos[0]) if photos else EXAMPLE_PHOTO_URL  # served by this server
    component.example_payload = lambda: handle_file(url)
    component.example_value = lambda: url
    return component


def photo_output(**kwargs) -> gr.Image:
    """A ``gr.Image`` output that stores small results as PNG and large ones as JPEG."""
    component = gr.Image(**kwargs)
    component.postprocess = functools.partial(_store_result, component)
    return component


def crops_output(**kwargs) -> gr.ImageSlider:
    """A ``gr.ImageSlider`` output whose two images are written atomically to Gradio's cache."""
    component = gr.ImageSlider(**kwargs)
    component.postprocess = functools.partial(_store_pair, component)
    return component


def _title(name: str) -> str:
    return name[:1].upper() + name[1:]


def _shown(value) -> str:
    """A value sent by a client, as the error sentence quotes it (short, HTML-escaped)."""
    text = "nothing" if value is None else repr(value)
    if len(text) > 40:
        text = text[:18] + "..." + text[-19:]
    return html.escape(text, quote=False)


def _check_number(component: gr.Slider, name: str, payload):
    low, high = component.minimum, component.maximum
    number = isinstance(payload, (int, float)) and not isinstance(payload, bool)
    if not number or not math.isfinite(payload) or not low <= payload <= high:
        raise user_error(
            f"{_title(name)} must be a number between {low:g} and {high:g}, got {_shown(payload)}."
        )
    return gr.Slider.preprocess(component, payload)


def checked_slider(name: str, minimum: float, maximum: float, **kwargs) -> gr.Slider:
    """A ``gr.Slider`` whose value, from the page or the API, is a number in [minimum, maximum]; anything
    else gets "``name`` must be a number between ... and ..., got 'abc'"."""
    component = gr.Slider(minimum, maximum, **kwargs)
    component.preprocess = functools.partial(_check_number, component, name)
    return component


def _check_choice(component: gr.Radio, name: str, payload):
    values = [value for _, value in component.choices]
    if payload is not None and (payload not in values or isinstance(payload, bool)):
        raise user_error(
            f"{_title(name)} must be one of {', '.join(map(str, values))}, got {_shown(payload)}."
        )
    return gr.Radio.preprocess(component, payload)


def checked_radio(name: str, **kwargs) -> gr.Radio:
    """A ``gr.Radio`` whose value, from the page or the API, is one of its choices; anything else gets
    "``name`` must be one of a, b, got 'x'"."""
    component = gr.Radio(**kwargs)
    component.preprocess = functools.partial(_check_choice, component, name)
    return component


def _is_file(value) -> bool:
    return isinstance(value, dict) and ("path" in value or "url" in value)


def with_example(component: gr.components.Component, value) -> gr.components.Component:
    """Show ``value`` as ``component``'s input in the API page's example call (instead of Gradio's
    placeholders, a PDF or "Hello!!"); for file inputs, ``value`` is a URL (or a list of them)."""
    if value is None:
        component.example_payload = component.example_value = lambda: None
    elif isinstance(component, (gr.File, gr.Video)):
        urls = value if isinstance(value, list) else [value]
        payload = [handle_file(u) for u in urls]
        component.example_payload = lambda: payload if isinstance(value, list) else payload[0]
    else:
        component.example_payload = lambda: value
    component.example_value = lambda: value
    return component


def require_files(component: gr.components.Component, name: str) -> gr.components.Component:
    """Make ``component`` (a file input) answer a value that is not a file with one sentence naming
    ``name``, instead of Gradio's generic error (its data model validated the value and failed)."""
    base = component.data_model
    many = issubclass(base, GradioRootModel)

    class Checked(base):
        __doc__ = base.__doc__  # the API page's description of the value
        model_config = ConfigDict(title=base.__name__)

        @classmethod
        def model_validate(cls, obj, *args, **kwargs):
            many_files = many and isinstance(obj, list) and all(_is_file(v) for v in obj)
            if not (isinstance(obj, base) or many_files or (not many and _is_file(obj))):
                what = "a list of files" if many else "a file"
                raise user_error(
                    f"{_title(name)} must be {what} (from Python: handle_file('path')), got {_shown(obj)}."
                )
            return super().model_validate(obj, *args, **kwargs)

    Checked.__name__ = Checked.__qualname__ = base.__name__
    component.data_model = Checked
    return component
