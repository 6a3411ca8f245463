"""Run directories: config, metrics (CSV), summaries, atomic files, checkpoints, checks."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np
import pytest

from rlgen.errors import UserError, check_choice, check_range
from rlgen.runs import (
    MetricsWriter,
    Run,
    atomic_write_bytes,
    default_run_dir,
    load_checkpoint,
    metrics_columns,
    read_metrics,
    save_checkpoint,
    to_jsonable,
)


@dataclass(frozen=True)
class Toy:
    seed: int = 3
    rate: float = 0.5


def test_run_writes_config_metrics_and_summary(run_dir):
    with Run("toy", Toy(), run_dir, tensorboard=True) as r:
        r.metrics.log(1, {"train/loss": 0.5})
        r.metrics.log(2, {"train/loss": 0.25, "eval/return": 10.0})  # a new column appears
        r.finish({"final": np.float32(0.25), "steps": np.int64(2), "nan": float("nan")})
    config = json.loads((run_dir / "config.json").read_text())
    assert config["command"] == "toy" and config["config"] == {"seed": 3, "rate": 0.5}
    assert config["seed"] == 3 and config["version"] and isinstance(config["argv"], list)
    rows = read_metrics(run_dir)
    assert rows == [
        {"step": 1.0, "train/loss": 0.5, "eval/return": None},
        {"step": 2.0, "train/loss": 0.25, "eval/return": 10.0},
    ]
    assert json.loads((run_dir / "summary.json").read_text()) == {
        "final": 0.25,
        "steps": 2,
        "nan": None,
    }
    assert list(run_dir.glob("events.out.tfevents.*"))
    assert oct((run_dir / "summary.json").stat().st_mode & 0o777) != oct(0o600)


def test_metrics_resume_appends_and_truncates_after_the_checkpoint(run_dir):
    run_dir.mkdir()
    w = MetricsWriter(run_dir, tensorboard=False)
    for step in range(1, 6):
        w.log(step, {"x": float(step)})
    w.close()
    w = MetricsWriter(run_dir, tensorboard=False, append=True)
    w.truncate_after(3)  # the checkpoint was at step 3: rows 4 and 5 are redone
    w.log(4, {"x": 40.0})
    w.close()
    cols = metrics_columns(run_dir / "metrics.csv")
    assert cols["step"].tolist() == [1, 2, 3, 4] and cols["x"].tolist() == [1, 2, 3, 40]


def test_log_many_equals_row_by_row(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    steps = np.arange(1, 4)
    cols = {"u": np.array([0.1, 0.2, 0.3]), "v": np.array([1, 2, 3])}
    w = MetricsWriter(a, tensorboard=False)
    w.log_many(steps, cols)
    w.close()
    w = MetricsWriter(b, tensorboard=False)
    for i, step in enumerate(steps.tolist()):
        w.log(step, {k: v[i].item() for k, v in cols.items()})
    w.close()
    assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_bytes(tmp_path / "f.bin", b"one")
    atomic_write_bytes(tmp_path / "f.bin", b"two")
    assert (tmp_path / "f.bin").read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_checkpoint_round_trip_and_clear_errors(tmp_path):
    import torch

    rng = np.random.default_rng(5)
    state = {"weights": torch.arange(4.0), "step": 7, "rng": rng.bit_generator.state}
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    loaded = load_checkpoint(tmp_path / "checkpoint.pt")
    assert torch.equal(loaded["weights"], state["weights"]) and loaded["step"] == 7
    other = np.random.default_rng()
    other.bit_generator.state = loaded["rng"]
    assert other.random() == rng.random()  # the RNG continues where it was saved
    with pytest.raises(UserError, match="no checkpoint here"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read the checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("alpha", 0.0, 0, 1, True, False), "--alpha must be in (0, 1], got 0"),
        (("gamma", 1.5, 0, 1, False, False), "--gamma must be in [0, 1], got 1.5"),
        (("learning_rate", -1.0, 0, None, True, False), "--learning-rate must be > 0, got -1"),
        (("steps", 0, 1, None, False, False), "--steps must be >= 1, got 0"),
        (("rate", 2.0, None, 1, False, True), "--rate must be < 1, got 2"),
        (("rate", math.nan, 0, 1, False, False), "--rate must be a finite number, got nan"),
    ],
)
def test_check_range_names_the_option_and_interval(args, message):
    field, value, low, high, low_open, high_open = args
    with pytest.raises(UserError) as info:
        check_range(field, value, low, high, low_open=low_open, high_open=high_open)
    assert str(info.value) == message


def test_check_range_accepts_the_interval():
    check_range("alpha", 1.0, 0, 1, low_open=True)
    check_range("steps", 1, 1)


def test_check_choice():
    check_choice("device", "cpu", ("auto", "cpu"))
    with pytest.raises(UserError, match="--device: unknown value 'gpu'; choose from auto, cpu"):
        check_choice("device", "gpu", ("auto", "cpu"))


def test_default_run_dir_names_command_and_seed():
    path = default_run_dir("mdp solve", 4)
    assert path.parts[:2] == ("runs", "mdp-solve") and path.name.endswith("-s4")


def test_to_jsonable_handles_numpy_paths_and_non_finite():
    from pathlib import Path

    assert to_jsonable({"a": np.arange(2), "b": Path("x"), "c": (1, np.float64(math.inf))}) == {
        "a": [0, 1],
        "b": "x",
        "c": [1, None],
    }


def test_progress_bars_only_on_a_terminal_and_never_when_quiet(monkeypatch, capsys):
    from rlgen import runs

    monkeypatch.setattr(runs.sys.stderr, "isatty", lambda: False)
    assert not runs.progress_enabled(quiet=False)
    monkeypatch.setattr(runs.sys.stderr, "isatty", lambda: True)
    assert runs.progress_enabled(quiet=False)
    assert not runs.progress_enabled(quiet=True)
    with runs.progress(total=3, quiet=True) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""


def test_tensorboard_reads_the_scalars_back(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with Run("toy", Toy(), run_dir) as r:
        r.metrics.log_many(np.arange(1, 6), {"train/loss": np.array([5.0, 4, 3, 2, 1])})
        r.metrics.log(6, {"eval/return": 9.5})
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == ["eval/return", "train/loss"]
    loss = events.Scalars("train/loss")
    assert [e.step for e in loss] == [1, 2, 3, 4, 5] and [e.value for e in loss] == [5, 4, 3, 2, 1]
    assert events.Scalars("eval/return")[0].value == 9.5
