"""``rlgen reproduce``: rerun the lecture's claims and write ``report.html`` and ``claims.json``.

Each topic contributes a section (see :mod:`rlgen.reproduce.claims`); this module runs the chosen
sections in order, each in its own subdirectory of the run directory, collects the claims and
writes the report. A section that fails with an error is reported as such (its traceback in the
report) and the others still run.
"""

from __future__ import annotations

import importlib
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rlgen.errors import UserError, check_config_types
from rlgen.reproduce.claims import SECTIONS, Claim, Context
from rlgen.reproduce.report import write_report
from rlgen.runs import Command, Run, write_json


@dataclass(frozen=True)
class ReproduceConfig:
    """Rerun the lecture's claims; write report.html (self-contained) and claims.json."""

    preset: Literal["quick", "full"] = "quick"
    """quick: the whole report in minutes on 2 CPU cores; full: the lecture's scale"""
    sections: tuple[str, ...] = ()
    """sections to run (default: all of them); an unknown name lists the choices"""
    seed: int = 0
    """random seed for every section"""
    strict: bool = False
    """exit with status 1 when a claim fails or a section errors"""

    def __post_init__(self) -> None:
        check_config_types(self)
        unknown = [s for s in self.sections if s not in SECTIONS]
        if unknown:
            raise UserError(
                f"--sections: unknown section {unknown[0]!r}; choose from {', '.join(SECTIONS)}"
            )

    @property
    def chosen(self) -> list[str]:
        return [s for s in SECTIONS if not self.sections or s in self.sections]


def run(
    config: ReproduceConfig,
    run_dir: str | Path | None = None,
    *,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict:
    """Run the sections, write ``claims.json``, ``report.html`` and ``summary.json``."""
    with Run(
        "reproduce",
        config,
        run_dir,
        quiet=quiet,
        tensorboard=False,
        metrics_index="section",
        overwrite=overwrite,
    ) as out:
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        sections: list[dict[str, Any]] = []
        for index, name in enumerate(config.chosen):
            module = importlib.import_module(SECTIONS[name])
            context = Context(config.preset, config.seed, out.path / name, quiet=quiet)
            context.dir.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            claims: list[Claim] = []
            error = None
            try:
                claims = module.run(context)
            except UserError:
                raise
            except Exception:  # a broken section must not hide the others' results
                error = traceback.format_exc()
            seconds = time.perf_counter() - start
            passed = sum(c.passed for c in claims)
            out.metrics.log(index, {"seconds": seconds, "claims": len(claims), "passed": passed})
            sections.append(
                {
                    "name": name,
                    "title": module.TITLE,
                    "dir": name,
                    "seconds": seconds,
                    "claims": claims,
                    "figures": context.figures,
                    "notes": context.notes,
                    "error": error,
                }
            )
            if not quiet:
                state = "error" if error else f"{passed}/{len(claims)} claims hold"
                print(f"  {module.TITLE}: {state} ({seconds:.1f} s)", flush=True)

        all_claims = [c for s in sections for c in s["claims"]]
        write_json(
            out.path / "claims.json",
            {
                "preset": config.preset,
                "seed": config.seed,
                "claims": [c.to_json() for c in all_claims],
            },
        )
        write_report(out.path / "report.html", sections, config=config, started=started)
        return out.finish(
            {
                "preset": config.preset,
                "seed": config.seed,
                "claims": len(all_claims),
                "passed": sum(c.passed for c in all_claims),
                "failed": [c.id for c in all_claims if not c.passed],
                "errors": [s["name"] for s in sections if s["error"]],
                "sections": {
                    s["name"]: {
                        "seconds": s["seconds"],
                        "claims": len(s["claims"]),
                        "passed": sum(c.passed for c in s["claims"]),
                    }
                    for s in sections
                },
                "report": "report.html",
            }
        )


def describe(summary: dict) -> str:
    """One line per failed claim and the overall count."""
    lines = [f"{summary['passed']} of {summary['claims']} claims hold ({summary['preset']} preset)"]
    lines += [f"  failed: {claim}" for claim in summary["failed"]]
    lines += [f"  section error: {name} (see report.html)" for name in summary["errors"]]
    return "\n".join(lines)


def exit_status(config: ReproduceConfig, summary: dict) -> int:
    """1 under ``--strict`` when a claim failed or a section errored, else 0."""
    return int(config.strict and bool(summary["failed"] or summary["errors"]))


COMMAND = Command(ReproduceConfig, run, describe, exit_status)
