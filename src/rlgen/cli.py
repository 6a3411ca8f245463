"""The ``rlgen`` command line: thin by design.

Each subcommand is a topic's frozen config dataclass (its fields and docstrings become the options
and their help, through tyro) and the topic's ``run(config, run_dir, quiet=...)``. This module only
finds the subcommand, parses, calls, prints where the results went and turns user errors into one
line ``rlgen: error: ...`` with exit status 2.

To add a subcommand, add a :class:`Command` to ``COMMANDS``; modules load only when their command
runs, so ``rlgen --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import os
import re
import shutil
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from rlgen.configs import typed_options
from rlgen.errors import UserError
from rlgen.runs import Command, default_run_dir


@dataclass(frozen=True)
class Entry:
    """A subcommand: ``rlgen <path...>`` runs the :class:`rlgen.runs.Command` at ``target``."""

    path: tuple[str, ...]
    target: str
    """``module:ATTRIBUTE`` of the topic's declared command, imported only when it runs"""
    help: str

    @property
    def name(self) -> str:
        return " ".join(self.path)

    def load(self) -> Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, Command):
            raise TypeError(f"{self.target} is not an rlgen.runs.Command")
        return command


COMMANDS: list[Entry] = [
    Entry(
        ("bandit",),
        "rlgen.bandits.command:COMMAND",
        "the k-armed bandit testbed: greedy, ε-greedy, UCB, gradient bandit (S&B ch. 2)",
    ),
    Entry(
        ("reinforce",),
        "rlgen.pg.command:COMMAND",
        "REINFORCE (+ learned baseline) on a gymnasium env until solved (CartPole-v1 by default)",
    ),
    Entry(
        ("reinforce", "evaluate"),
        "rlgen.pg.evaluate_command:EVALUATE",
        "re-evaluate a saved REINFORCE policy; --gif records one episode",
    ),
    Entry(
        ("vae",),
        "rlgen.generative.command:COMMAND",
        "variational autoencoder on Fashion-MNIST: ELBO, IWAE likelihood, samples, 2-D manifold",
    ),
    Entry(
        ("vae", "evaluate"),
        "rlgen.generative.evaluate:EVALUATE",
        "re-score a saved VAE: ELBO and the IWAE bound with --iwae-k samples",
    ),
    Entry(
        ("vae", "beta-sweep"),
        "rlgen.generative.sweeps:BETA",
        "one VAE per KL weight beta, as independent jobs; their samples as one grid",
    ),
    Entry(
        ("vae", "latent-sweep"),
        "rlgen.generative.sweeps:LATENT",
        "one VAE per latent size, as independent jobs: bound, reconstructions, active units",
    ),
    Entry(
        ("ae",),
        "rlgen.generative.command:AE",
        "autoencoder: --kind compressive, linear (finds the PCA subspace) or denoising",
    ),
    Entry(
        ("mdp", "solve"),
        "rlgen.mdp.command:SOLVE",
        "values and all optimal actions of a finite MDP by dynamic programming (S&B ch. 3-4)",
    ),
    Entry(
        ("mdp", "pg-check"),
        "rlgen.mdp.command:PG_CHECK",
        "the policy gradient theorem checked exactly on a finite MDP; REINFORCE against it",
    ),
    Entry(
        ("nas", "search"),
        "rlgen.nas.command:SEARCH",
        "architecture search: a REINFORCE controller (or random search) over NASNet or MnasNet",
    ),
    Entry(
        ("nas", "show"),
        "rlgen.nas.command:SHOW",
        "the best architectures of searches (also while they run); --figure compares them",
    ),
    Entry(
        ("nas", "train-best"),
        "rlgen.nas.command:TRAIN_BEST",
        "retrain a search's best architectures longer; test accuracy with a 95% interval",
    ),
    Entry(
        ("reproduce",),
        "rlgen.reproduce:COMMAND",
        "rerun the lecture's claims and write report.html and claims.json",
    ),
]


@dataclass(frozen=True)
class OutputOptions:
    """Where the run directory goes and whether to show progress."""

    out: Path | None = None
    """run directory; None means runs/<command>/<timestamp>-s<seed>"""
    quiet: bool = False
    """no progress bars (they also stay off when stderr is not a terminal)"""
    overwrite: bool = False
    """empty --out first when it already holds files (without it a non-empty directory is
    refused, so no run is overwritten by accident)"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rlgen`` and ``python -m rlgen``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(args)
    except UserError as e:
        print(f"rlgen: error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # a parse error (status 2, its line printed) or --help (0)
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        print("rlgen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `rlgen reinforce --help | head`: the reader left, stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _dispatch(args: list[str]) -> int:
    if args and args[0] in ("--version", "-V"):
        from rlgen import __version__

        print(f"rlgen {__version__}")
        return 0
    entry = _find(args)
    if entry is None:
        if not args or args[0] in ("-h", "--help"):
            print(_overview(args[:0]))
            return 0
        prefix = _longest_group_prefix(args)
        if prefix and (len(args) == len(prefix) or args[len(prefix)] in ("-h", "--help")):
            print(_overview(prefix))
            return 0
        known = ", ".join(sorted({c.path[0] for c in COMMANDS}))
        word = args[len(prefix)] if len(args) > len(prefix) else ""
        raise UserError(f"unknown command {' '.join([*prefix, word])!r}; commands: {known}")
    rest = args[len(entry.path) :]
    command = entry.load()
    with typed_options(rest):  # a config's own checks see what was typed, as its run does
        config, options = _parse(entry, command, rest)
    if not command.writes_run_dir:
        result = command.run(config)
        _print_description(command, result)
        return command.exit_status(config, result)
    out = (
        options.out
        or getattr(config, "resume", None)  # a resumed run continues in its own directory
        or default_run_dir(entry.name, getattr(config, "seed", None))
    )
    with typed_options(rest):  # beside --resume, an option typed at its default is refused too
        summary = command.run(config, out, quiet=options.quiet, overwrite=options.overwrite)
    print(f"rlgen {entry.name}: results in {out}")
    _print_description(command, summary)
    return command.exit_status(config, summary)


def _print_description(command: Command, summary: Any) -> None:
    """The topic's few lines; the results are written already, so a failure here is a note."""
    try:
        text = command.describe(summary)
    except Exception as e:  # a bug in describe() must not hide results that were written
        print(
            f"rlgen: note: the results are complete, but their summary could not be printed "
            f"({type(e).__name__}: {e}); see summary.json",
            file=sys.stderr,
        )
        return
    print(text)


def _find(args: list[str]) -> Entry | None:
    """The command whose path is the longest prefix of ``args``."""
    matches = [c for c in COMMANDS if tuple(args[: len(c.path)]) == c.path]
    return max(matches, key=lambda c: len(c.path)) if matches else None


def _longest_group_prefix(args: list[str]) -> tuple[str, ...]:
    """The longest ``args`` prefix that some command path starts with (a command group)."""
    best: tuple[str, ...] = ()
    for c in COMMANDS:
        n = 0
        while n < min(len(args), len(c.path)) and args[n] == c.path[n]:
            n += 1
        if n > len(best):
            best = tuple(args[:n])
    return best


def _overview(prefix: Sequence[str]) -> str:
    """``rlgen --help`` (or ``rlgen <group> --help``): the commands under ``prefix``."""
    prefix = tuple(prefix)
    rows = [c for c in COMMANDS if c.path[: len(prefix)] == prefix]
    width = max(len(c.name) for c in rows) + 2
    head = "rlgen " + " ".join(prefix) if prefix else "rlgen"
    columns = max(shutil.get_terminal_size().columns, width + 30)
    about = (
        "rlgen: reinforcement learning from reward and generative models, a lecture made runnable."
    )
    lines = [
        f"usage: {head} COMMAND [OPTIONS]",
        "",
        *_wrap(about, columns),
        "",
        "commands:",
    ]
    # each command's line wrapped to the terminal, continued under its help column
    for c in rows:
        text = _wrap(c.help, columns - width - 2) or [""]
        lines.append(f"  {c.name.ljust(width)}{text[0]}")
        lines += [" " * (width + 2) + more for more in text[1:]]
    tail = f"'{head} COMMAND --help' lists a command's options with their defaults."
    lines += ["", *_wrap(tail, columns)]
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken between words only (a name
    such as Fashion-MNIST or CartPole-v1, or an option such as --iwae-k, stays whole)."""
    return textwrap.wrap(text, width, break_on_hyphens=False)


def _parse(entry: Entry, command: Command, rest: list[str]) -> tuple[Any, OutputOptions]:
    import tyro

    prog = f"rlgen {entry.name}"
    subcommands = [c.path[-1] for c in COMMANDS if c.path[:-1] == entry.path]
    description = entry.help
    if subcommands:
        description += f" (subcommands: {', '.join(subcommands)}; see '{prog} SUBCOMMAND --help')"

    if command.writes_run_dir:

        def parse(config: Any, output: OutputOptions) -> tuple[Any, OutputOptions]:
            return config, output

        # Real (not string) annotations: the config class is only known here. name="" drops the
        # "config." prefix of the top-level fields only; a nested config (an agent, a child
        # network) keeps its prefix unless its own field says to flatten it.
        parse.__annotations__ = {
            "config": Annotated[command.config, tyro.conf.arg(name="")],
            "output": Annotated[OutputOptions, tyro.conf.arg(name="")],
            "return": tuple,
        }
        target: Any = parse
    else:
        target = command.config
    _dedent_field_docs()
    with _one_line_parse_errors(prog):
        parsed = tyro.cli(target, args=rest, prog=prog, description=description)
    return parsed if command.writes_run_dir else (parsed, OutputOptions())


@contextlib.contextmanager
def _one_line_parse_errors(prog: str) -> Iterator[None]:
    """tyro explains a bad command line in a box; print the one line we promise instead.

    tyro's box goes to a buffer: on success anything in it is passed on, on a parse error only
    our line is printed, naming the option and, where tyro found one, the flag meant.
    """
    event: list[Any] = []
    hook = _tyro_error_hook()
    box = io.StringIO()
    with hook(event.append) if hook else contextlib.nullcontext():
        try:
            with contextlib.redirect_stderr(box):
                yield
        except SystemExit as e:
            if e.code in (0, None):
                sys.stderr.write(box.getvalue())
                raise
            detail = _describe(event[0]) if event else "invalid command line"
            meant = _suggestion(box.getvalue())
            if meant and meant not in detail:
                detail += f" (did you mean {meant}?)"
            print(f"rlgen: error: {detail}; see '{prog} --help'", file=sys.stderr)
            raise SystemExit(2) from None
    sys.stderr.write(box.getvalue())


def _one_line(message: str) -> str:
    """tyro's message for a value no type of a union accepts lists each type's error on its
    own line ("- <class 'float'>: could not convert ..."); keep the last of those errors."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    errors = [re.sub(r"^- [^:]+: ", "", line) for line in lines if line.startswith("- ")]
    return errors[-1] if errors else " ".join(lines)


def _suggestion(box: str) -> str | None:
    """The first flag tyro's box suggests after "Perhaps you meant", if any."""
    _, found, rest = box.partition("Perhaps you meant")
    match = re.search(r"(--[\w.-]+)", rest) if found else None
    return match.group(1) if match else None


def _dedent_field_docs() -> None:
    """Make each field docstring one paragraph of --help, however many source lines it takes.

    tyro (1.0) joins a field docstring's lines before it dedents them, so every indented
    continuation line became a hard line break in the help, and it keeps a break before a line
    that starts with a non-letter (``--max-episode-steps``, ``(475``), meant for lists. Its
    private docstring reader is wrapped to dedent and join the lines first (a blank line still
    separates paragraphs, and a line starting a bullet, ``- `` or ``* ``, keeps its own line);
    where that reader is missing, the help keeps the breaks.
    """
    try:
        from tyro import _docstrings
    except ImportError:
        return
    read = getattr(_docstrings, "parse_docstring_from_object", None)
    if read is None or getattr(read, "rlgen_dedented", False):
        return

    def dedented(obj: object) -> dict[str, str]:
        return {
            name: re.sub(r"(?<!\n)\n(?!\n|[-*•] )", " ", inspect.cleandoc(text))
            for name, text in read(obj).items()
        }

    dedented.rlgen_dedented = True  # type: ignore[attr-defined]
    _docstrings.parse_docstring_from_object = dedented  # type: ignore[assignment]


def _tyro_error_hook() -> Any:
    try:  # a private tyro hook: used when present, else the generic line is printed
        from tyro import _errors

        return _errors.on_parse_error
    except (ImportError, AttributeError):
        return None


def _describe(event: Any) -> str:
    """One line for a tyro parse-error event (best effort across tyro versions)."""
    kind = type(event).__name__
    arg = getattr(event, "argument", None)
    flag = None
    if arg is not None:
        names = getattr(getattr(arg, "lowered", None), "name_or_flags", None)
        flag = names[0] if names else None
    if kind == "UnrecognizedArgs":
        return f"unrecognized arguments: {' '.join(getattr(event, 'tokens', []))}"
    if kind == "InvalidChoice":
        choices = ", ".join(getattr(event, "choices", ()))
        value = getattr(event, "value", "")
        return f"{flag or 'an option'}: invalid choice {value!r} (choose from {choices})"
    if kind == "InstantiationFailure":
        message = _one_line(str(getattr(event, "message", "invalid value")))
        return f"{flag + ': ' if flag else ''}{message}"
    if kind == "BadValue":
        return f"{flag or 'an option'}: wrong number or kind of values"
    if kind == "MissingArgs":
        return "required arguments are missing"
    return "invalid command line (see above)"
