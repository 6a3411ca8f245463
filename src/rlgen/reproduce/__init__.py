"""``rlgen reproduce``: rerun the lecture's claims and write ``report.html`` and ``claims.json``.

Each topic contributes a section (see :mod:`rlgen.reproduce.claims`); this module runs the chosen
sections in order, each in its own subdirectory of the run directory, collects the claims and
writes the report. A section that fails with an error is reported as such (its traceback in the
report) and the others still run. Each finished section leaves ``<section>/section.json`` (its
claims, figures and notes): ``--resume DIR`` keeps those sections and reruns the others from
their start, so a long report killed in its fourth section keeps its first three. An error in
the user's hands (a :class:`~rlgen.errors.UserError`, e.g. missing data) stops the report, but
the sections finished by then stay for ``--resume``.
"""

from __future__ import annotations

import importlib
import math
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from rlgen.configs import (
    check_resume_options,
    default_in_words,
    load_run_config,
    typed_options,
)
from rlgen.errors import UserError, check_config_types, check_range
from rlgen.files import read_json, write_json
from rlgen.reproduce.claims import SECTIONS, Claim, Context
from rlgen.reproduce.report import write_report
from rlgen.runs import MAX_SEED, Command, Run

NAME = "reproduce"
SECTION_FILE = "section.json"
"""written into a section's directory when it has finished without an error"""


@dataclass(frozen=True)
class ReproduceConfig:
    """Rerun the lecture's claims; write report.html (self-contained) and claims.json."""

    preset: Literal["quick", "full"] = "quick"
    """quick: the whole report in minutes on 2 CPU cores; full: the lecture's scale"""
    sections: Annotated[tuple[str, ...], default_in_words("all of them")] = ()
    """sections to run; an unknown name lists the choices"""
    seed: int = 0
    """random seed for every section"""
    strict: bool = False
    """exit with status 1 when a claim fails or a section errors"""
    resume: Path | None = None
    """continue the report in this directory (its config.json is used): sections that finished
    are kept, the others run again from their start"""

    def __post_init__(self) -> None:
        check_config_types(self)
        # sections derive their generators' seeds as seed * 1000 + i
        check_range("seed", self.seed, 0, MAX_SEED // 1000)
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
    """Run the sections, write ``claims.json``, ``report.html`` and ``summary.json``; or, with
    ``config.resume``, finish the report in that directory."""
    if config.resume is None:
        return _report(config, run_dir, quiet=quiet, overwrite=overwrite)
    if run_dir is not None and Path(run_dir).resolve() != config.resume.resolve():
        raise UserError("--resume continues the report in its own directory; leave out --out")
    original = load_run_config(config.resume, NAME, ReproduceConfig)
    # --strict only decides the exit status (see exit_status), so it may be given again
    check_resume_options(config, config.resume, allowed=("strict",))
    return _report(original, config.resume, quiet=quiet, resume=True)


def _report(
    config: ReproduceConfig,
    run_dir: str | Path | None,
    *,
    quiet: bool,
    overwrite: bool = False,
    resume: bool = False,
) -> dict:
    with Run(
        NAME,
        config,
        run_dir,
        quiet=quiet,
        tensorboard=False,
        metrics_index="section",
        overwrite=overwrite,
        resume=resume,
    ) as out:
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        if resume:
            out.metrics.truncate_after(-1)  # every section is logged again, kept or rerun
        sections: list[dict[str, Any]] = []
        failure: UserError | None = None
        for index, name in enumerate(config.chosen):
            kept = _finished_section(out.path / name) if resume else None
            try:
                section = kept or _run_section(name, config, out.path, quiet=quiet, resume=resume)
            except UserError as e:
                if not any(s["error"] is None for s in sections):
                    raise  # nothing finished: a new directory is removed again (runs.Run)
                failure = e  # leave the with block normally, so that Run keeps the directory
                break
            claims: list[Claim] = section["claims"]
            passed = sum(c.passed for c in claims)
            row = {"seconds": section["seconds"], "claims": len(claims), "passed": passed}
            out.metrics.log(index, row)
            sections.append(section)
            if not quiet:
                error = section["error"]
                state = "error" if error else f"{passed}/{len(claims)} claims hold"
                how = "kept from the interrupted run" if kept else f"{section['seconds']:.1f} s"
                print(f"  {section['title']}: {state} ({how})", flush=True)
        if failure is None:
            return _finish(out, config, sections, started)
    raise UserError(
        f"{failure} (the finished sections are kept: once that is fixed, "
        f"`rlgen reproduce --resume {out.path}` runs the others)"
    )


def _finish(out: Run, config: ReproduceConfig, sections: list[dict], started: str) -> dict:
    """Write ``claims.json``, ``report.html`` and ``summary.json`` over all the sections."""
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


def _run_section(
    name: str, config: ReproduceConfig, root: Path, *, quiet: bool, resume: bool = False
) -> dict:
    """Run one section in ``root/name``; a finished one leaves its ``section.json``.

    What an interrupted run of the section left is removed (the section starts again), unless
    the report is resumed and the section declares ``RESUMABLE = True``: it then gets the
    directory as it is, with ``ctx.resume`` set, and continues its own long runs.
    """
    module = importlib.import_module(SECTIONS[name])
    directory = root / name
    keep = resume and getattr(module, "RESUMABLE", False) and directory.is_dir()
    if directory.exists() and not keep:
        shutil.rmtree(directory)
    context = Context(config.preset, config.seed, directory, quiet=quiet, resume=keep)
    context.dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    claims: list[Claim] = []
    error = None
    try:
        # the report's command line says nothing of the runs its sections make: `--seed` typed
        # for the report is no --seed typed for a section's `mdp solve --example gridworld-3.5`
        with typed_options(()):
            claims = module.run(context)
    except UserError:
        raise
    except Exception:  # a broken section must not hide the others' results
        error = traceback.format_exc()
    section = {
        "name": name,
        "title": module.TITLE,
        "dir": name,
        "seconds": time.perf_counter() - start,
        "claims": claims,
        "figures": context.figures,
        "notes": context.notes,
        "error": error,
    }
    if error is None:
        write_json(directory / SECTION_FILE, section | {"claims": [_exact(c) for c in claims]})
    return section


def _exact(claim: Claim) -> dict[str, Any]:
    """``claim.to_json()`` with its non-finite numbers as text (``inf``, ``-inf``, ``nan``):
    JSON has no such numbers, and null would bring an infinite tolerance (or measurement)
    back as NaN, changing the verdict (or what the report shows)."""
    saved = claim.to_json()
    for key in ("measured", "expected", "tolerance"):
        value = float(saved[key])
        if not math.isfinite(value):
            saved[key] = str(value)
    return saved


def _finished_section(directory: Path) -> dict | None:
    """The section a resumed report keeps, or None when it must run again (it did not finish,
    or its ``section.json`` cannot be read)."""
    path = directory / SECTION_FILE
    if not path.is_file():
        return None
    try:
        saved = read_json(path)
        claims = [Claim.from_json(c) for c in saved["claims"]]
        texts = [saved["name"], saved["title"], saved["dir"], *saved["figures"], *saved["notes"]]
        usable = (
            all(isinstance(t, str) for t in texts)
            and all(isinstance(saved[key], list) for key in ("claims", "figures", "notes"))
            and isinstance(saved["seconds"], int | float)
        )
    except (UserError, KeyError, TypeError, ValueError):
        return None
    return saved | {"claims": claims, "error": None} if usable else None


def describe(summary: dict) -> str:
    """One line per failed claim and the overall count."""
    lines = [f"{summary['passed']} of {summary['claims']} claims hold ({summary['preset']} preset)"]
    lines += [f"  failed: {claim}" for claim in summary["failed"]]
    lines += [f"  section error: {name} (see report.html)" for name in summary["errors"]]
    return "\n".join(lines)


def exit_status(config: ReproduceConfig, summary: dict) -> int:
    """1 under ``--strict`` (given now, or by the run that ``--resume`` finishes) when a claim
    failed or a section errored, else 0."""
    strict = config.strict
    if config.resume is not None and not strict:
        strict = load_run_config(config.resume, NAME, ReproduceConfig).strict
    return int(strict and bool(summary["failed"] or summary["errors"]))


COMMAND = Command(ReproduceConfig, run, describe, exit_status)
