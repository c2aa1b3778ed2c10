"""Built-in compute backends for :mod:`mr_core` (one small module per backend).

A backend module exposes ``name`` and ``load()``; ``load()`` returns an
:class:`mr_core.core.backend.ArrayBackend` or raises :class:`mr_core.errors.BackendError`
with a one-line reason when it cannot run on this machine.
"""
