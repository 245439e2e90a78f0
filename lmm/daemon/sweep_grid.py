"""A sweep file (``backtest.py --sweep SWEEP.json``) read, validated and expanded into parameter sets. Pure: a
parsed JSON object in, points out; no I/O, no clock (docs/backtest.md, "Sweeps").

The file is one JSON object with exactly one of ``grid`` and ``random``, and optionally ``fixed``:

- ``grid``: {"section.key": [value, ...], ...}: every combination, the first key varying slowest (the keys in
  the file's order, each key's values in the file's order);
- ``random``: {"seed": int, "samples": int, "keys": {"section.key": DISTRIBUTION, ...}}: ``samples`` points
  drawn with Python's ``random.Random(seed)``, key by key in the file's order; DISTRIBUTION is one of
  {"uniform": [lo, hi]} and {"log_uniform": [lo, hi]} (floats, rounded to 6 significant digits),
  {"int": [lo, hi]} (an integer, both ends included) and {"choice": [value, ...]};
- ``fixed``: {"section.key": value, ...}: the same value at every point.

Keys are the configuration's (``lmm.config.config.SCHEMA``), as ``section.key``, or the backtest's own
assumptions (``BACKTEST_KEYS``: ``backtest.latency_ms``, ``backtest.queue_model``, ...); a key may appear once.
The values' types and ranges are checked by loading each point's configuration and options (``sweep.py``),
not here.
"""
from __future__ import annotations

import difflib
import itertools
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lmm.config.config import SCHEMA

MAX_POINTS = 100_000
TOP_LEVEL = ("grid", "random", "fixed")
DISTRIBUTIONS = ("uniform", "log_uniform", "int", "choice")
SIGNIFICANT_DIGITS = 6
BACKTEST_SECTION = "backtest"  # the backtest's own assumptions (BacktestOptions), not the bot's configuration
BACKTEST_KEYS = ("latency_ms", "queue_model", "queue_power", "tier", "collateral_usd")


class SweepError(ValueError):
    """The sweep file is not valid; the message names the place and what is accepted."""


@dataclass(frozen=True)
class SweepPoint:
    index: int
    values: tuple[tuple[str, Any], ...]  # (dotted key, value) in the sweep's key order, ``fixed`` last


@dataclass(frozen=True)
class Sweep:
    swept_keys: tuple[str, ...]  # the keys of ``grid`` or ``random`` (``fixed`` ones are not columns)
    fixed: tuple[tuple[str, Any], ...]
    points: tuple[SweepPoint, ...]


def _is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, bool | int | str)


def check_key(key: Any, where: str) -> str:
    if not isinstance(key, str) or key.count(".") != 1:
        raise SweepError(f"{where}: {key!r} is not a configuration key: write it as section.key, e.g. "
                         f"vol_obi.c1_ticks")
    section, name = key.split(".")
    if section == BACKTEST_SECTION:
        if name not in BACKTEST_KEYS:
            raise SweepError(f"{where}: unknown backtest assumption {key!r}; the backtest's keys: "
                             + ", ".join(f"{BACKTEST_SECTION}.{k}" for k in BACKTEST_KEYS))
        return key
    if section not in SCHEMA:
        hint = difflib.get_close_matches(section, SCHEMA, n=1)
        raise SweepError(f"{where}: unknown configuration section {section!r} in {key!r}"
                         + (f" (did you mean {hint[0]!r}?)" if hint else f"; sections: {', '.join(SCHEMA)}"))
    if name not in SCHEMA[section]:
        hint = difflib.get_close_matches(name, SCHEMA[section], n=1)
        raise SweepError(f"{where}: unknown configuration key {key!r}"
                         + (f" (did you mean '{section}.{hint[0]}'?)" if hint
                            else f"; keys of {section}: {', '.join(SCHEMA[section])}"))
    return key


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SweepError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def _scalar(value: Any, where: str) -> Any:
    if not _is_scalar(value):
        raise SweepError(f"{where}: expected a number, a string or true/false, got {value!r}")
    return value


def _grid(spec: Any) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    spec = _object(spec, "grid")
    if not spec:
        raise SweepError("grid: no key to sweep (give at least one \"section.key\": [values])")
    keys, axes = [], []
    for key, values in spec.items():
        where = f"grid.{key}"
        keys.append(check_key(key, "grid"))
        if not isinstance(values, list) or not values:
            raise SweepError(f"{where}: expected a non-empty list of values")
        axis = [_scalar(v, f"{where}[{i}]") for i, v in enumerate(values)]
        seen = [(type(v).__name__, v) for v in axis]
        if len(set(seen)) != len(seen):
            raise SweepError(f"{where}: a value is listed twice: {values}")
        axes.append(axis)
    total = math.prod(len(a) for a in axes)
    if total > MAX_POINTS:
        raise SweepError(f"grid: {total} points, more than {MAX_POINTS}")
    return tuple(keys), list(itertools.product(*axes))


def _pair(value: Any, where: str, kind: str) -> tuple[float, float]:
    if not (isinstance(value, list) and len(value) == 2 and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise SweepError(f"{where}: expected [low, high], two numbers, got {value!r}")
    lo, hi = value
    if not lo < hi:
        raise SweepError(f"{where}: low ({lo}) must be below high ({hi})")
    if kind == "log_uniform" and lo <= 0:
        raise SweepError(f"{where}: low ({lo}) must be above 0 for log_uniform")
    if kind == "int" and not (isinstance(lo, int) and isinstance(hi, int)):
        raise SweepError(f"{where}: expected two integers, got {value!r}")
    return lo, hi


def _distribution(spec: Any, where: str) -> tuple[str, Any]:
    spec = _object(spec, where)
    if len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise SweepError(f"{where}: expected one of {', '.join(DISTRIBUTIONS)} as the only key, e.g. "
                         f"{{\"uniform\": [0, 40]}}; got {sorted(spec)}")
    kind, arg = next(iter(spec.items()))
    where = f"{where}.{kind}"
    if kind == "choice":
        if not isinstance(arg, list) or not arg:
            raise SweepError(f"{where}: expected a non-empty list of values")
        return kind, [_scalar(v, f"{where}[{i}]") for i, v in enumerate(arg)]
    return kind, _pair(arg, where, kind)


def _draw(rng: random.Random, kind: str, arg: Any) -> Any:
    if kind == "choice":
        return arg[rng.randrange(len(arg))]
    lo, hi = arg
    if kind == "int":
        return rng.randint(lo, hi)
    value = rng.uniform(lo, hi) if kind == "uniform" else math.exp(rng.uniform(math.log(lo), math.log(hi)))
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def _random(spec: Any) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    spec = _object(spec, "random")
    unknown = sorted(set(spec) - {"seed", "samples", "keys"})
    if unknown:
        raise SweepError(f"random: unknown field(s) {unknown}; expected seed, samples, keys")
    seed, samples = spec.get("seed"), spec.get("samples")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SweepError(f"random.seed: expected an integer (the sample repeats for the same seed), got {seed!r}")
    if not isinstance(samples, int) or isinstance(samples, bool) or not 1 <= samples <= MAX_POINTS:
        raise SweepError(f"random.samples: expected an integer in [1, {MAX_POINTS}], got {samples!r}")
    keys_spec = _object(spec.get("keys"), "random.keys")
    if not keys_spec:
        raise SweepError("random.keys: no key to sweep")
    keys, dists = [], []
    for key, dist in keys_spec.items():
        keys.append(check_key(key, "random.keys"))
        dists.append(_distribution(dist, f"random.keys.{key}"))
    rng = random.Random(seed)
    return tuple(keys), [tuple(_draw(rng, kind, arg) for kind, arg in dists) for _ in range(samples)]


def expand(spec: Any) -> Sweep:
    """The sweep file's object as parameter sets, in a deterministic order (see the module's docstring)."""
    spec = _object(spec, "the sweep file")
    unknown = sorted(set(spec) - set(TOP_LEVEL))
    if unknown:
        raise SweepError(f"the sweep file: unknown field(s) {unknown}; expected grid or random, and fixed")
    if ("grid" in spec) == ("random" in spec):
        raise SweepError("the sweep file: give exactly one of \"grid\" and \"random\"")
    keys, combos = _grid(spec["grid"]) if "grid" in spec else _random(spec["random"])
    fixed_spec = _object(spec.get("fixed", {}), "fixed")
    fixed = tuple((check_key(k, "fixed"), _scalar(v, f"fixed.{k}")) for k, v in fixed_spec.items())
    both = sorted(set(keys) & {k for k, _ in fixed})
    if both:
        raise SweepError(f"fixed: {', '.join(both)} is also swept; give each key once")
    points = tuple(SweepPoint(i, tuple(zip(keys, combo, strict=True)) + fixed) for i, combo in enumerate(combos))
    return Sweep(keys, fixed, points)


def apply_point(config: Mapping[str, Mapping[str, Any]], values: tuple[tuple[str, Any], ...]) -> dict:
    """A configuration object (``{section: {key: value}}``) with the point's configuration values set (the
    backtest's own keys are not configuration); the input is unchanged."""
    out = {section: dict(entries) for section, entries in config.items()}
    for key, value in values:
        section, name = key.split(".")
        if section != BACKTEST_SECTION:
            out.setdefault(section, {})[name] = value
    return out


def backtest_values(values: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """The point's backtest assumptions, by name (``latency_ms``, ...)."""
    return {key.split(".")[1]: value for key, value in values if key.split(".")[0] == BACKTEST_SECTION}
