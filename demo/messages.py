"""How the page speaks of errors: library errors become one-sentence ``gr.Error``s, anything else is
logged and answered with a generic sentence, and the server keeps serving."""

from __future__ import annotations

import functools
import html
import logging

import gradio as gr

from mr_core.errors import MRError

from .components import user_error

__all__ = [
    "HINTS",
    "sentence",
    "speak_clip",
    "speak_model",
    "speak_photo",
    "speak_training",
    "speaker",
    "with_hint",
]

log = logging.getLogger("demo")

#: What to do about a library message that ends like the key (the library says only what is wrong).
HINTS = {
    "no face found": "use a photo with a clear, front-facing face",
    "no face large enough to edit": "use a photo in which the face is larger",
    "not an image (or an unsupported format)": "upload a JPEG, PNG, WebP or BMP photo",
}


def with_hint(message: str) -> str:
    """``message`` with what to do about it appended, when the page knows and the message does not say."""
    for ending, hint in HINTS.items():
        if ending in message and hint not in message:
            return f"{message.rstrip('. ')}; {hint}."
    return message


def sentence(message: str) -> str:
    """A library message as a sentence for the page (which renders HTML: escape it)."""
    message = message.strip()
    first_word = message.split(" ", 1)[0]
    if message[:1].islower() and not first_word.endswith(":"):  # a file name stays as it is
        message = message[0].upper() + message[1:]
    if message and message[-1] not in ".!?":
        message += "."
    return html.escape(message, quote=False)


def speaker(what: str, smaller: str, other: str):
    """A decorator turning library errors into one-sentence ``gr.Error``s and logging anything
    unexpected; its sentences name what the request works on (``what``, e.g. "this clip") and what
    to try instead (``smaller`` after running out of memory, ``other`` after an unexpected error)."""

    def speak(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except gr.Error:
                raise
            except MRError as exc:
                raise user_error(sentence(with_hint(str(exc)))) from None
            except MemoryError:
                log.exception("out of memory in %s", fn.__name__)
                raise gr.Error(
                    f"The server ran out of memory for {what}; please try {smaller}.",
                    print_exception=False,
                ) from None
            except Exception:
                log.exception("unexpected error in %s", fn.__name__)
                raise gr.Error(
                    f"Something went wrong while processing {what} (the error was logged on the server); "
                    f"please try {other}.",
                    print_exception=False,
                ) from None

        return wrapper

    return speak


speak_photo = speaker("this photo", "a smaller one", "another photo")
speak_clip = speaker("this clip", "a shorter or smaller clip", "another clip")
speak_training = speaker("these photos", "fewer or smaller photos", "other photos")
speak_model = speaker("this model", "another expression", "another expression")


#: In the page, after a request failed: the sentence of its error pop-up (the newest one), which
#: otherwise goes after 10 s, so that it stays in the tab's status line.
_LAST_ERROR_JS = """
async () => {
  await new Promise((done) => setTimeout(done, 100));
  const texts = [...document.querySelectorAll('[data-testid="toast-body"]')]
    .filter((b) => /\\berror\\b/.test(b.className))
    .flatMap((b) => [...b.querySelectorAll('[data-testid="toast-text"]')]);
  const text = texts.length ? texts[texts.length - 1].textContent.trim() : "";
  return text ? "**Error:** " + text.replace(/[<>&*_`\\\\]/g, (c) => "\\\\" + c) : "**Error.**";
}
"""


def keep_error(event, status, name: str):
    """After ``event`` fails, write its error's sentence into the ``status`` line (in the page only)."""
    return event.failure(
        None,
        js=_LAST_ERROR_JS,
        outputs=[status],
        api_name=f"{name}_error",
        api_visibility="private",
        queue=False,
        show_progress="hidden",
    )
