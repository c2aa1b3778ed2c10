"""The web demo: ``python app.py`` serves it on http://127.0.0.1:7860 (also a Hugging Face Space).

Gradio's environment variables apply, e.g. GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=8080.
Usage statistics are off unless GRADIO_ANALYTICS_ENABLED=True is set.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from demo import build_demo, launch_options  # noqa: E402  (after the analytics default)

demo = build_demo()

if __name__ == "__main__":
    demo.launch(**launch_options())
