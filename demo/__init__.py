"""The web demo (Gradio): ``build_demo(models_dir=None).launch(**launch_options())``."""

from .ui import build_demo, launch_options, serve_local

__all__ = ["build_demo", "launch_options", "serve_local"]
