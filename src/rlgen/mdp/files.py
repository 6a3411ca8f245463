"""A finite MDP of your own, read from and written to a JSON file (``rlgen mdp solve`` and
``rlgen mdp pg-check``: ``--example file --file PATH``).

The file holds the lecture's dynamics p(s', r | s, a) as rows of outcomes, the form of
:meth:`rlgen.mdp.model.MDP.from_outcomes`::

    {
      "states": 3,
      "actions": ["stay", "go"],
      "outcomes": [[0, 1, 0.9, 1, -1.0],
                   [0, 1, 0.1, 0, -1.0],
                   ...],
      "terminal": [2],
      "gamma": 0.9
    }

- ``states``: S, the number of states (states are 0 .. S-1).
- ``actions``: A, or a list of A action names (``up``, ``right``, ``down``, ``left`` draw arrows).
- ``outcomes``: rows ``[s, a, p, s', r]``: from state s, action a leads to s' with reward r with
  probability p; the rows of each non-terminal (s, a) sum to 1 (rows with the same s' add up: a
  reward distribution); |r| <= :data:`MAX_REWARD`. Rows of terminal states are dropped (a
  terminal state is absorbing with reward 0).
- ``terminal`` (optional, default none): the terminal states.
- ``initial`` (optional): h(s), S probabilities; default uniform over the non-terminal states.
- ``gamma`` (optional where ``--gamma`` is given), ``horizon`` (optional, H: the task is
  truncated after H steps, solved by backward induction unless ``--horizon`` replaces it),
  ``name`` (optional),
  ``grid`` (optional, ``[rows, cols]``: state s is the cell (s // cols, s % cols), drawn as a grid).

Any other key is refused (a misspelt ``"terminals"`` would otherwise be dropped in silence).
:func:`write_mdp` writes any :class:`MDP` in this form, so a shipped example is a template:
``rlgen.mdp.files.write_mdp(rlgen.mdp.examples.example("gridworld-4.1"), "mine.json")``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from rlgen.errors import check_memory, number_text
from rlgen.files import read_json, write_json
from rlgen.mdp.model import MDP, MDPError

REQUIRED = ("states", "actions", "outcomes")
OPTIONAL = ("terminal", "initial", "gamma", "horizon", "name", "grid")

MAX_REWARD = 1e100
"""largest reward magnitude of a file's outcome: a value sums up to 1 / (1 - gamma) (< 1e16 in
float64) or, with gamma = 1, up to :data:`rlgen.mdp.dp.MAX_EXPECTED_STEPS` expected rewards, so
values stay below 1e117, far within float64 (rewards of 1e308 summed to inf and nan)"""


def read_mdp(
    path: str | Path,
    *,
    gamma: float | None = None,
    horizon: int | None = None,
    default_horizon: int | None = None,
    gamma_option: str | None = "--gamma",
) -> MDP:
    """The MDP in the JSON file ``path``; ``gamma`` and ``horizon``, when given, replace the
    file's; ``default_horizon`` is H where the file has no ``"horizon"``. Every problem with the
    file is an :class:`MDPError` naming the file; a file without a discount is told to give one
    or ``gamma_option`` (None: the command has no such option)."""
    path = Path(path)
    data = read_mdp_json(path)
    try:
        return _from_dict(
            data,
            gamma=gamma,
            horizon=horizon,
            default_horizon=default_horizon,
            default_name=path.stem,
            gamma_option=gamma_option,
        )
    except MDPError as e:
        raise MDPError(f"{path}: {e}") from None


PARSE_BYTES_PER_BYTE = 10
"""memory per byte of an MDP file, to read and build it: tracemalloc measured a peak of 3.3x the
file's size to parse its JSON and 6x to build the MDP from it (a 74 MB file of 720,000 rows)"""


def read_mdp_json(path: str | Path) -> Any:
    """The JSON value in ``path``; a path that is no readable JSON file (missing, a directory,
    unreadable, not JSON, nested beyond Python's recursion limit) is an :class:`MDPError`."""
    path = Path(path)
    if path.is_dir():
        raise MDPError(f"{path}: is a directory, not a JSON file of an MDP")
    if path.exists() and not path.is_file():  # a FIFO or a device would be read without end
        raise MDPError(f"{path}: not a regular file, not a JSON file of an MDP")
    if path.is_file():  # parsed, then built (PARSE_BYTES_PER_BYTE)
        check_memory("file", PARSE_BYTES_PER_BYTE * path.stat().st_size, f"reading {path}")
    try:
        return read_json(path, unique_keys=True)
    except RecursionError:
        raise MDPError(f"{path}: not an MDP file (its JSON is nested too deeply)") from None
    except PermissionError:
        raise MDPError(f"{path}: cannot read it (permission denied)") from None


def write_mdp(mdp: MDP, path: str | Path) -> None:
    """Write ``mdp`` as the JSON :func:`read_mdp` reads (the same MDP back, exactly)."""
    write_json(Path(path), mdp_dict(mdp))


def mdp_dict(mdp: MDP) -> dict[str, Any]:
    """``mdp`` as the file's dictionary (floats kept exactly: JSON's repr round-trips them)."""
    rows = np.repeat(np.arange(mdp.n_states * mdp.n_actions), np.diff(mdp.row_start))
    s, a = np.divmod(rows, mdp.n_actions)
    data: dict[str, Any] = {
        "name": mdp.name,
        "states": mdp.n_states,
        "actions": list(mdp.action_names),
        "outcomes": [
            [int(s[i]), int(a[i]), float(mdp.prob[i]), int(mdp.next_state[i]), float(mdp.reward[i])]
            for i in range(len(rows))
        ],
        "terminal": np.flatnonzero(mdp.terminal).tolist(),
        "initial": [float(h) for h in mdp.initial],
        "gamma": mdp.gamma,
        "horizon": mdp.horizon,
    }
    if mdp.grid is not None:
        data["grid"] = list(mdp.grid)
    return data


def _from_dict(
    data: Any,
    *,
    gamma: float | None,
    horizon: int | None,
    default_horizon: int | None = None,
    default_name: str,
    gamma_option: str | None = "--gamma",
) -> MDP:
    if not isinstance(data, dict):
        raise MDPError(f"expected a JSON object with keys {', '.join(REQUIRED)}")
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise MDPError(
            f"unknown key(s) {', '.join(map(repr, unknown))}; the keys are "
            f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}"
        )
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise MDPError(f"missing key(s) {', '.join(map(repr, missing))}")
    n_states = _count(data["states"], "states")
    actions = data["actions"]
    if isinstance(actions, list):
        if not actions or not all(isinstance(name, str) and name for name in actions):
            raise MDPError('"actions": a count, or a non-empty list of action names')
        if len(set(actions)) != len(actions):
            raise MDPError('"actions": the action names must differ')
        n_actions, names = len(actions), tuple(actions)
    else:
        n_actions, names = _count(actions, "actions"), ()
    outcomes = _outcomes(data["outcomes"], n_states, n_actions)
    terminal = [
        _index(t, n_states, f'"terminal" entry {i}')
        for i, t in enumerate(_list(data.get("terminal", []), "terminal"))
    ]
    live = n_states - len(set(terminal))
    if live * n_actions > len(outcomes):  # checked before any array of S entries is made
        raise MDPError(
            f"{len(outcomes)} outcome rows cannot cover the {live} non-terminal states x "
            f"{n_actions} actions: every non-terminal (state, action) needs outcomes"
        )
    initial = data.get("initial")
    if initial is not None:
        initial = [
            _number(h, f'"initial" entry {i}') for i, h in enumerate(_list(initial, "initial"))
        ]
        if len(initial) != n_states:
            raise MDPError(f'"initial" must hold {n_states} probabilities, one per state')
    if gamma is None:
        if data.get("gamma") is None:
            alternative = f" or {gamma_option}" if gamma_option else ""
            raise MDPError(f'no discount: give "gamma" in the file{alternative}')
        gamma = _number(data["gamma"], '"gamma"')
    if horizon is None and data.get("horizon") is not None:
        horizon = _count(data["horizon"], "horizon")
    if horizon is None:
        horizon = default_horizon
    grid = data.get("grid")
    if grid is not None:
        cells = _list(grid, "grid")
        if len(cells) != 2:
            raise MDPError('"grid" must be [rows, cols]')
        grid = (_count(cells[0], "grid"), _count(cells[1], "grid"))
    name = data.get("name", default_name)
    if not isinstance(name, str):
        raise MDPError('"name" must be a string')
    return MDP.from_outcomes(
        n_states,
        n_actions,
        outcomes,
        initial=initial,
        terminal=np.array(terminal, dtype=np.int64),
        gamma=gamma,
        horizon=horizon,
        name=name,
        action_names=names,
        grid=grid,
    )


def _outcomes(rows: Any, n_states: int, n_actions: int) -> np.ndarray:
    table = np.empty((len(_list(rows, "outcomes")), 5))
    for i, row in enumerate(rows):
        where = f'"outcomes" row {i}'
        if not isinstance(row, list) or len(row) != 5:
            raise MDPError(f"{where}: expected [state, action, probability, next_state, reward]")
        s, a, p, s2, r = row
        reward = _number(r, f"{where}, reward")
        if abs(reward) > MAX_REWARD:
            raise MDPError(
                f"{where}, reward: {number_text(reward)} is beyond +-{MAX_REWARD:g} (values, "
                "sums of many rewards, would overflow float64)"
            )
        table[i] = (
            _index(s, n_states, f"{where}, state"),
            _index(a, n_actions, f"{where}, action"),
            _number(p, f"{where}, probability"),
            _index(s2, n_states, f"{where}, next_state"),
            reward,
        )
    return table


def _list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise MDPError(f'"{key}" must be a list')
    return value


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MDPError(f'"{key}" must be a whole number >= 1, got {value!r}')
    return value


def _index(value: Any, n: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
        raise MDPError(f"{where}: expected a whole number in 0..{n - 1}, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    number = float("nan")
    if not isinstance(value, bool) and isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float64 (JSON integers have any size)
            raise MDPError(
                f"{where}: expected a finite number, got an integer beyond float64"
            ) from None
    if not math.isfinite(number):
        raise MDPError(f"{where}: expected a finite number, got {value!r}")
    return number
