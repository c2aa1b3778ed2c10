"""Declared parameters of estimators: constraints checked in one place, ``get_params`` and ``__repr__``
derived from ``__init__`` (the scikit-learn convention: ``__init__`` only stores its arguments).

A class lists a constraint per parameter in ``_parameter_constraints``; :meth:`Parameters._validate_params`
checks them all and raises :class:`~mr_core.errors.InvalidParameterError` naming the parameter, what it
must be and what it got (``lam must be a finite number > 0, got 0``).
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar

from ..errors import InvalidParameterError


class Constraint:
    """What a parameter's value must be; :meth:`check` raises with one sentence when it is not."""

    #: Words completing "NAME must be ..." (e.g. "a finite number > 0").
    text = "valid"

    def accepts(self, value) -> bool:
        raise NotImplementedError

    def check(self, name: str, value) -> None:
        if not self.accepts(value):
            raise InvalidParameterError(f"{name} must be {self.text}, got {value!r}")


class Real(Constraint):
    """A finite real number (not a bool) with optional bounds; ``optional``: ``None`` is allowed too."""

    def __init__(self, low: float | None = None, *, strict: bool = False, optional: bool = False):
        self.low, self.strict, self.optional = low, strict, optional
        bound = "" if low is None else f" {'>' if strict else '>='} {low:g}"
        self.text = f"a finite number{bound}" + (" or None" if optional else "")

    def accepts(self, value) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return False
        return self.low is None or (value > self.low if self.strict else value >= self.low)


class Boolean(Constraint):
    text = "True or False"

    def accepts(self, value) -> bool:
        return isinstance(value, bool)


class OneOf(Constraint):
    """One of a few values (named in the message)."""

    def __init__(self, *choices):
        self.choices = choices
        self.text = "one of " + ", ".join(map(str, choices))

    def accepts(self, value) -> bool:
        return isinstance(value, str | int | float | type(None)) and value in self.choices


class Text(Constraint):
    """A string; ``optional``: ``None`` is allowed too."""

    def __init__(self, *, optional: bool = False):
        self.optional = optional
        self.text = "a string" + (" or None" if optional else "")

    def accepts(self, value) -> bool:
        return isinstance(value, str) or (self.optional and value is None)


class Satisfies(Constraint):
    """Any rule given as a predicate, with the words that describe it."""

    def __init__(self, predicate: Callable[[Any], bool], text: str):
        self.predicate, self.text = predicate, text

    def accepts(self, value) -> bool:
        try:
            return bool(self.predicate(value))
        except (TypeError, ValueError):
            return False


class Parameters:
    """Mixin: parameters are ``__init__``'s arguments, stored under their own names."""

    #: name -> :class:`Constraint`; parameters not listed are not checked here.
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {}

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """The parameters, in ``__init__``'s order."""
        sig = inspect.signature(cls.__init__)
        return tuple(
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        sig = inspect.signature(cls.__init__)
        return {n: sig.parameters[n].default for n in cls.param_names()}

    def get_params(self) -> dict[str, Any]:
        """The parameters and their values (as given to ``__init__``)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params) -> Parameters:
        valid = self.param_names()
        for name, value in params.items():
            if name not in valid:
                raise InvalidParameterError(
                    f"{type(self).__name__} has no parameter {name!r}; its parameters: {', '.join(valid)}"
                )
            setattr(self, name, value)
        return self

    def _validate_params(self) -> None:
        """Check every declared constraint (raises :class:`InvalidParameterError`)."""
        for name, constraint in self._parameter_constraints.items():
            constraint.check(name, getattr(self, name))

    def __repr__(self) -> str:
        """``Class(name=value, ...)`` of the parameters that differ from their defaults."""
        defaults = self.param_defaults()
        shown = []
        for name, value in self.get_params().items():
            default = defaults[name]
            try:
                same = value is default or (type(value) is type(default) and value == default)
            except (TypeError, ValueError):  # e.g. arrays
                same = False
            if not same:
                shown.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"
