"""argparse value types with one-line messages naming the valid range (shared by the commands)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def ranged(
    cast: type = float,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    above: bool = False,
    odd: bool = False,
) -> Callable[[str], float]:
    """A type that parses ``cast(text)`` and checks ``low <= value <= high`` (``low < value`` when ``above``)."""
    noun = "an odd integer" if odd else "an integer" if cast is int else "a number"
    if high < math.inf:
        desc = f"{noun} in [{low:g}, {high:g}]"
    else:
        desc = f"{noun} {'>' if above else '>='} {low:g}"

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {desc}, got {text!r}") from None
        ok = (value > low if above else value >= low) and value <= high and math.isfinite(value)
        if not ok or (odd and value % 2 == 0):
            raise argparse.ArgumentTypeError(f"must be {desc}, got {text}")
        return value

    return parse
