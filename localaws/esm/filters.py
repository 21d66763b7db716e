"""Event filtering for DynamoDB stream records, as Lambda applies ``FilterCriteria``.

A filter pattern uses the EventBridge pattern language. A pattern is a JSON object
whose leaves are arrays of match values; the keys of an object are AND-ed, the
values of an array are OR-ed, and a mapping's filters are OR-ed with each other.
Patterns apply to the record as Lambda delivers it (``eventSourceARN``,
``awsRegion`` and ``eventVersion`` included), so top-level metadata such as
``eventName`` can be filtered as well as the ``dynamodb`` data.

Rules that matter for DynamoDB, recorded against AWS:

* Values keep their DynamoDB type descriptor: ``{"dynamodb": {"NewImage": {"k":
  {"S": ["v"]}}}}`` matches an item whose ``k`` is ``{"S": "v"}``, and
  ``{"dynamodb": {"NewImage": {"k": ["v"]}}}`` does not.
* ``N`` values are strings in the record, so a ``numeric`` operator never matches
  them; ``dynamodb.ApproximateCreationDateTime`` is a JSON number and does.
* ``exists`` looks at leaves only: ``{"k": [{"exists": false}]}`` also matches an
  item that has ``k``, because ``k`` holds an object (``{"S": ...}``), not a leaf.

Supported match values: strings, numbers (compared numerically), ``null``,
``true``/``false``, ``""``, and the operators ``prefix``, ``suffix``,
``equals-ignore-case``, ``anything-but`` (a value, a list, or ``prefix`` /
``suffix`` / ``equals-ignore-case``), ``numeric`` (``=``, ``<``, ``<=``, ``>``,
``>=`` and two-sided ranges) and ``exists``. ``cidr``, ``wildcard`` and ``$or`` are
refused with :class:`UnsupportedFilterError`. An array in the record matches when
any of its elements matches.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

MAX_PATTERN_LENGTH = 4096
"""Longest pattern string the Lambda API accepts (shape ``Pattern``, max 4096)."""

_MISSING: Any = object()
_Test = Callable[[Any], bool]
_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_LOWER_BOUNDS = (">", ">=")
_UPPER_BOUNDS = ("<", "<=")
_UNSUPPORTED_OPERATORS = ("cidr", "wildcard")


class FilterPatternError(ValueError):
    """The pattern is not a valid filter pattern (AWS: "Invalid filter pattern definition.")."""


class UnsupportedFilterError(FilterPatternError):
    """The pattern uses an operator the local endpoint does not emulate."""


@dataclass(frozen=True)
class _Leaf:
    """The compiled array of match values at one path."""

    tests: tuple[_Test, ...]
    exists: frozenset[bool]

    def matches(self, values: list[Any]) -> bool:
        if values and True in self.exists:
            return True
        if not values and False in self.exists:
            return True
        return any(test(value) for test in self.tests for value in values)


_Node = dict[str, "_Leaf | _Node"]


@dataclass(frozen=True)
class Pattern:
    """A compiled filter pattern.

    Attributes
    ----------
    source : str
        The pattern as the caller wrote it (the ``Pattern`` string of the API).
    """

    source: str
    _root: _Node = field(repr=False, compare=False)

    def matches(self, record: dict[str, Any]) -> bool:
        """Tell whether ``record`` satisfies this pattern.

        Parameters
        ----------
        record : dict
            A stream record as Lambda delivers it.

        Returns
        -------
        bool
            ``True`` when every key of the pattern matches.
        """
        return _match_object(self._root, record)


def compile_pattern(pattern_json: str) -> Pattern:
    """Parse and validate one filter pattern.

    Parameters
    ----------
    pattern_json : str
        The ``Pattern`` string of one filter, e.g.
        ``'{"dynamodb": {"NewImage": {"status": {"S": ["failed"]}}}}'``.

    Returns
    -------
    Pattern
        The compiled pattern, ready for :func:`matches`.

    Raises
    ------
    UnsupportedFilterError
        The pattern uses ``cidr``, ``wildcard`` or ``$or``.
    FilterPatternError
        The pattern is invalid: not a string, longer than 4096 characters, not
        JSON, not an object, empty, a leaf that is not a non-empty array, an
        unknown operator or a malformed operator value.

    Examples
    --------
    >>> p = compile_pattern('{"eventName": ["INSERT", "MODIFY"]}')
    >>> matches([p], {"eventName": "REMOVE"})
    False
    """
    if not isinstance(pattern_json, str):
        raise FilterPatternError("a pattern must be a string holding a JSON object")
    if len(pattern_json) > MAX_PATTERN_LENGTH:
        raise FilterPatternError(
            f"a pattern must be at most {MAX_PATTERN_LENGTH} characters long, "
            f"got {len(pattern_json)}"
        )
    try:
        document = json.loads(pattern_json, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise FilterPatternError(f"the pattern is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise FilterPatternError("a pattern must be a JSON object")
    return Pattern(pattern_json, _compile_object(document, ""))


def compile_patterns(pattern_jsons: Iterable[str]) -> list[Pattern]:
    """Compile a mapping's ``FilterCriteria`` pattern strings (see :func:`compile_pattern`)."""
    return [compile_pattern(text) for text in pattern_jsons]


def matches(patterns: list[Pattern], record: dict[str, Any]) -> bool:
    """Tell whether Lambda would pass ``record`` to the function.

    Parameters
    ----------
    patterns : list of Pattern
        The mapping's compiled filters.
    record : dict
        A stream record as Lambda delivers it (with ``eventSourceARN``,
        ``awsRegion`` and ``eventVersion``).

    Returns
    -------
    bool
        ``True`` when there are no filters or at least one filter matches.
    """
    return not patterns or any(pattern.matches(record) for pattern in patterns)


# -- compiling ---------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _where(path: str) -> str:
    return f"'{path}'" if path else "the top level"


def _compile_object(document: dict[str, Any], path: str) -> _Node:
    if not document:
        raise FilterPatternError(f"the object at {_where(path)} is empty")
    node: _Node = {}
    for key, value in document.items():
        child = f"{path}.{key}" if path else key
        if key == "$or":
            raise UnsupportedFilterError(
                "the local endpoint does not support '$or' in filter patterns; "
                "use several filters instead (they are OR-ed)"
            )
        if isinstance(value, dict):
            node[key] = _compile_object(value, child)
        elif isinstance(value, list):
            node[key] = _compile_leaf(value, child)
        else:
            raise FilterPatternError(
                f"the value at '{child}' must be an array of match values or an object"
            )
    return node


def _compile_leaf(values: list[Any], path: str) -> _Leaf:
    if not values:
        raise FilterPatternError(f"the array at '{path}' is empty")
    tests: list[_Test] = []
    exists: set[bool] = set()
    for value in values:
        if isinstance(value, dict):
            name, argument = _single_operator(value, path)
            if name == "exists":
                if not isinstance(argument, bool):
                    raise FilterPatternError(f"'exists' at '{path}' takes true or false")
                exists.add(argument)
            else:
                tests.append(_compile_operator(name, argument, path))
        elif isinstance(value, list):
            raise FilterPatternError(f"the array at '{path}' contains an array")
        else:
            tests.append(_exact(value))
    return _Leaf(tuple(tests), frozenset(exists))


def _single_operator(value: dict[str, Any], path: str) -> tuple[str, Any]:
    if len(value) != 1:
        raise FilterPatternError(
            f"an operator object at '{path}' must have exactly one key, got {sorted(value)}"
        )
    ((name, argument),) = value.items()
    if name in _UNSUPPORTED_OPERATORS:
        raise UnsupportedFilterError(
            f"the local endpoint does not support the '{name}' filter operator (at '{path}')"
        )
    return name, argument


def _compile_operator(name: str, argument: Any, path: str) -> _Test:
    if name in ("prefix", "suffix"):
        return _affix(name, argument, path)
    if name == "equals-ignore-case":
        if not isinstance(argument, str):
            raise FilterPatternError(f"'equals-ignore-case' at '{path}' takes a string")
        return _ignore_case(argument)
    if name == "anything-but":
        inner = _anything_but(argument, path)
        return lambda value: not inner(value)
    if name == "numeric":
        return _numeric(argument, path)
    raise FilterPatternError(f"unknown operator '{name}' at '{path}'")


def _exact(expected: Any) -> _Test:
    if expected is None:
        return lambda value: value is None
    if isinstance(expected, bool):
        return lambda value: isinstance(value, bool) and value is expected
    if isinstance(expected, int | float):
        return lambda value: _is_number(value) and value == expected
    return lambda value: isinstance(value, str) and value == expected


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ignore_case(expected: str) -> _Test:
    folded = expected.casefold()
    return lambda value: isinstance(value, str) and value.casefold() == folded


def _affix(name: str, argument: Any, path: str) -> _Test:
    fold = False
    if isinstance(argument, dict) and list(argument) == ["equals-ignore-case"]:
        fold, argument = True, argument["equals-ignore-case"]
    if not isinstance(argument, str):
        raise FilterPatternError(f"'{name}' at '{path}' takes a string")
    affix = argument.casefold() if fold else argument

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        text = value.casefold() if fold else value
        return text.startswith(affix) if name == "prefix" else text.endswith(affix)

    return test


def _anything_but(argument: Any, path: str) -> _Test:
    """Return the test that ``anything-but`` negates."""
    if isinstance(argument, dict):
        name, inner = _single_operator(argument, f"{path}.anything-but")
        if name in ("prefix", "suffix"):
            return _affix(name, inner, path)
        if name == "equals-ignore-case":
            words = inner if isinstance(inner, list) else [inner]
            if not words or not all(isinstance(word, str) for word in words):
                raise FilterPatternError(
                    f"'anything-but' 'equals-ignore-case' at '{path}' takes strings"
                )
            tests = [_ignore_case(word) for word in words]
            return lambda value: any(test(value) for test in tests)
        raise FilterPatternError(f"unsupported operator '{name}' inside 'anything-but' at '{path}'")
    values = argument if isinstance(argument, list) else [argument]
    if not values or not all(isinstance(v, str) or _is_number(v) for v in values):
        raise FilterPatternError(
            f"'anything-but' at '{path}' takes a string, a number, a non-empty array of "
            "them, or a prefix/suffix/equals-ignore-case object"
        )
    tests = [_exact(v) for v in values]
    return lambda value: any(test(value) for test in tests)


def _numeric(argument: Any, path: str) -> _Test:
    bad = FilterPatternError(
        f"'numeric' at '{path}' takes [\"=\", n], [\"<\" or \"<=\", n], [\">\" or \">=\", n] "
        "or a lower and an upper bound, e.g. [\">\", 0, \"<=\", 5]"
    )
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise bad
    pairs = list(zip(argument[::2], argument[1::2], strict=True))
    for op, bound in pairs:
        if op not in _COMPARATORS or not _is_number(bound) or not math.isfinite(bound):
            raise bad
    if len(pairs) == 2:
        ops = {pairs[0][0], pairs[1][0]}
        lower = [bound for op, bound in pairs if op in _LOWER_BOUNDS]
        upper = [bound for op, bound in pairs if op in _UPPER_BOUNDS]
        if "=" in ops or len(lower) != 1 or len(upper) != 1:
            raise bad
        if lower[0] >= upper[0]:
            raise FilterPatternError(
                f"'numeric' at '{path}': the lower bound must be below the upper bound"
            )
    checks = [(_COMPARATORS[op], float(bound)) for op, bound in pairs]
    return lambda value: _is_number(value) and all(cmp(value, bound) for cmp, bound in checks)


# -- matching ----------------------------------------------------------------------------


def _match_object(node: _Node, event: Any) -> bool:
    return all(_match_field(spec, _child(event, key)) for key, spec in node.items())


def _child(event: Any, key: str) -> Any:
    return event.get(key, _MISSING) if isinstance(event, dict) else _MISSING


def _match_field(spec: _Leaf | _Node, value: Any) -> bool:
    if isinstance(spec, _Leaf):
        return spec.matches(_leaf_values(value))
    if isinstance(value, list):
        objects = [item for item in _flatten(value) if isinstance(item, dict)]
        if objects:
            return any(_match_object(spec, item) for item in objects)
        return _match_object(spec, _MISSING)
    return _match_object(spec, value)


def _leaf_values(value: Any) -> list[Any]:
    """The leaves at one path: nothing for a missing key or an object."""
    if value is _MISSING or isinstance(value, dict):
        return []
    if isinstance(value, list):
        return [item for item in _flatten(value) if not isinstance(item, dict)]
    return [value]


def _flatten(values: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for item in values:
        if isinstance(item, list):
            flat.extend(_flatten(item))
        else:
            flat.append(item)
    return flat
