"""What a claim is, how it is checked, and how a topic contributes a section to the report.

A claim pairs a sentence of the lecture with a measurement. Its check is one of three comparisons
against the lecture's value: ``approx`` (|measured - expected| <= tolerance), ``at_most``
(measured <= expected + tolerance) and ``at_least`` (measured >= expected - tolerance). Every claim
says how its tolerance was derived (``how``): for statistical claims from the measured run-to-run
spread (a multiple of a standard error), plus the precision of the lecture's own words where it
says "about"; for exact computations from floating-point error.

A section is a module of ``rlgen.reproduce`` with ``TITLE`` and
``run(context) -> list[Claim]``; it writes its figures into ``context.dir`` and names them on
its claims (or in ``context.figures``). ``SECTIONS`` lists the modules in report order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Comparison = Literal["approx", "at_most", "at_least"]
Preset = Literal["quick", "full"]

# Report order; each entry is a module under rlgen.reproduce, loaded only when it runs.
SECTIONS: dict[str, str] = {
    "bandits": "rlgen.reproduce.bandits",
    "mdp": "rlgen.reproduce.mdp",
    "reinforce": "rlgen.reproduce.reinforce",
    "nas": "rlgen.reproduce.nas",
    "generative": "rlgen.reproduce.generative",
}


@dataclass
class Claim:
    """One of the lecture's claims and its measurement.

    Attributes:
        id: stable identifier, ``<section>.<name>`` (scripts and tests key on it).
        statement: what the lecture says, in its words.
        measured: the measured value.
        expected: the lecture's value (or bound).
        tolerance: allowed deviation, >= 0.
        comparison: ``approx``, ``at_most`` or ``at_least``.
        how: how the value was measured and the tolerance derived.
        unit: ``%`` shows values times 100 with a percent sign; otherwise shown as numbers.
        figure: file name (in the section directory) of the figure that shows it, if any.
        details: further measured numbers for the table and claims.json.
    """

    id: str
    statement: str
    measured: float
    expected: float
    tolerance: float
    comparison: Comparison = "approx"
    how: str = ""
    unit: str = ""
    figure: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def gap_beyond(
        cls, id: str, statement: str, *, gap: float, margin: float, **rest: Any
    ) -> Claim:
        """A measured (usually paired) gap must reach ``margin``, a multiple of its standard error
        (``Z * se``); the margin is the expected value, so no tolerance. ``rest``: the other
        fields (``how``, ``unit``, ``figure``, ``details``)."""
        return cls(
            id,
            statement,
            measured=gap,
            expected=margin,
            tolerance=0.0,
            comparison="at_least",
            **rest,
        )

    @property
    def passed(self) -> bool:
        m, e, tol = self.measured, self.expected, self.tolerance
        if not (math.isfinite(m) and math.isfinite(e)):
            return False
        if self.comparison == "approx":
            return abs(m - e) <= tol
        if self.comparison == "at_most":
            return m <= e + tol
        return m >= e - tol

    def show(self, value: float) -> str:
        """``value`` formatted in the claim's unit."""
        if self.unit == "%":
            return f"{100 * value:.2f}%"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3g}"
        return f"{value:.4g}"

    @property
    def target(self) -> str:
        """The check in words, e.g. ``≈ 80.00% ± 3.27%`` or ``≤ 91.00% + 0.42%``."""
        symbol = {"approx": "≈", "at_most": "≤", "at_least": "≥"}[self.comparison]
        sign = {"approx": "±", "at_most": "+", "at_least": "−"}[self.comparison]
        if self.tolerance == 0:
            return f"{symbol} {self.show(self.expected)}"
        return f"{symbol} {self.show(self.expected)} {sign} {self.show(self.tolerance)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "statement": self.statement,
            "measured": self.measured,
            "expected": self.expected,
            "tolerance": self.tolerance,
            "comparison": self.comparison,
            "passed": self.passed,
            "how": self.how,
            "unit": self.unit,
            "figure": self.figure,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Claim:
        """The claim :meth:`to_json` wrote (``passed`` is derived again). A non-finite number,
        written as null, comes back as NaN (and so still fails); written as the text ``inf``,
        ``-inf`` or ``nan`` (as ``section.json`` keeps them), it comes back as it was.

        Raises:
            KeyError, TypeError, ValueError: ``data`` is not such a claim (a key is missing,
                or a value has the wrong type, e.g. written by another version).
        """

        def number(key: str) -> float:
            value = data[key]
            if value is None:
                return math.nan
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise TypeError(f"claim {key}: not a number")
            return float(value)

        def text(key: str, default: str | None = None) -> Any:
            value = data.get(key, default) if default is not None else data[key]
            if not isinstance(value, str):
                raise TypeError(f"claim {key}: not text")
            return value

        comparison = text("comparison")
        if comparison not in ("approx", "at_most", "at_least"):
            raise ValueError(f"claim comparison {comparison!r}: unknown")
        figure = data.get("figure")
        details = data.get("details") or {}
        if not (figure is None or isinstance(figure, str)) or not isinstance(details, dict):
            raise TypeError("claim figure or details: wrong type")
        return cls(
            id=text("id"),
            statement=text("statement"),
            measured=number("measured"),
            expected=number("expected"),
            tolerance=number("tolerance"),
            comparison=comparison,
            how=text("how", ""),
            unit=text("unit", ""),
            figure=figure,
            details=details,
        )


@dataclass
class Context:
    """What a section gets: the preset, a seed, its own directory, and quiet / workers settings."""

    preset: Preset
    seed: int
    dir: Path
    quiet: bool = True
    resume: bool = False
    """``dir`` holds what an interrupted run of this section left (only for a section that
    declares ``RESUMABLE = True`` in a resumed report): continue its runs rather than redo them"""
    figures: list[str] = field(default_factory=list)
    """figure file names (in ``dir``) shown in the section even if no claim names them"""
    notes: list[str] = field(default_factory=list)
    """short paragraphs shown under the section title (setup, what was run)"""

    def pick(self, quick: Any, full: Any) -> Any:
        """The preset's value of a setting."""
        return quick if self.preset == "quick" else full
