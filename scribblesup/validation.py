"""Checking values against type hints and field rules (dataclass ``metadata``): one checker for configs and
parameter dataclasses.

Rules: ``min``, ``gt`` (strictly greater), ``max``, ``choices``, ``length`` (of a list).
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields


def _type_name(hint) -> str:
    return getattr(hint, "__name__", str(hint)).replace("NoneType", "null")


def check_value(value, hint, where: str, rules: dict):
    """``value`` as the type ``hint`` says (ints accepted for floats), within ``rules``; else ``ValueError``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for hint_i in inner:  # the first type the value fits
            try:
                return check_value(value, hint_i, where, rules)
            except ValueError as exc:
                errors.append(str(exc))
        if len(inner) == 1:
            raise ValueError(errors[0])
        raise ValueError(f"{where}: {value!r} fits none of {' | '.join(map(_type_name, args))} ({'; '.join(errors)})")
    if value is None:
        raise ValueError(f"{where} must be {_type_name(hint)}, got null")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be a list, got {value!r}")
        if "length" in rules and len(value) != rules["length"]:
            raise ValueError(f"{where} must have {rules['length']} values, got {list(value)!r}")
        return [check_value(v, args[0], where, rules) for v in value]
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be a mapping, got {value!r}")
        if not args:
            return value
        return {check_value(k, args[0], f"{where} key", {}): check_value(v, args[1], f"{where}.{k}", rules)
                for k, v in value.items()}
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise ValueError(f"{where} must be {_type_name(hint)}, got {value!r}")
    if "choices" in rules and isinstance(value, str) and value not in rules["choices"]:
        raise ValueError(f"{where} must be one of {', '.join(map(str, rules['choices']))}, got {value!r}")
    if not isinstance(value, (int, float)):
        return value
    if "min" in rules and value < rules["min"]:
        raise ValueError(f"{where} must be >= {rules['min']}, got {value!r}")
    if "gt" in rules and not value > rules["gt"]:
        raise ValueError(f"{where} must be > {rules['gt']}, got {value!r}")
    if "max" in rules and value > rules["max"]:
        raise ValueError(f"{where} must be <= {rules['max']}, got {value!r}")
    if value != value:  # NaN
        raise ValueError(f"{where} must be a number, got NaN")
    return value



def check_fields(obj) -> None:
    """Check every field of a dataclass instance against its type hint and rules; ``ValueError`` names the field."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        setattr(obj, f.name, check_value(getattr(obj, f.name), hints[f.name], f.name, dict(f.metadata)))
