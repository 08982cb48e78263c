"""Checks of numeric trainer arguments, with the argument named in the error.

Examples:

>>> check_number("beta", 0.1)
0.1
>>> check_integer("num_generations", 4, minimum=2)
4
>>> check_number("learning_rate", float("nan"))
Traceback (most recent call last):
...
kerasalign.errors.KerasAlignError: learning_rate must be a number > 0.0. Received: learning_rate=nan
"""

import math

import numpy as np

from kerasalign.errors import KerasAlignError


def check_integer(name, value, minimum=1):
    """Raise `KerasAlignError` unless `value` is an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise KerasAlignError(f"{name} must be an integer >= {minimum}. Received: {name}={value!r}")
    return int(value)


def check_number(name, value, minimum=0.0, maximum=None, *, allow_minimum=False):
    """Raise `KerasAlignError` unless `value` is a number in the range."""
    valid = not isinstance(value, bool) and isinstance(value, (int, float, np.floating))
    if valid:
        valid = math.isfinite(value) and (
            value >= minimum if allow_minimum else value > minimum
        )
        valid = valid and (maximum is None or value < maximum)
    if not valid:
        low = f"{'>=' if allow_minimum else '>'} {minimum}"
        high = f" and < {maximum}" if maximum is not None else ""
        raise KerasAlignError(f"{name} must be a number {low}{high}. Received: {name}={value!r}")
    return float(value)
