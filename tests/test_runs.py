"""Run directories: config, metrics (CSV), summaries, atomic files, checkpoints, checks."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pytest
import tyro

from rlgen.checkpoints import (
    Checkpoint,
    Every,
    GlobalRNG,
    NumpyRNG,
    load_checkpoint,
    save_checkpoint,
)
from rlgen.configs import changed_options, config_from_dict, given_options, typed_options
from rlgen.errors import UserError, check_range
from rlgen.files import atomic_write_bytes, to_jsonable
from rlgen.metrics import MetricsWriter, metrics_columns, read_metrics
from rlgen.runs import Run, default_run_dir


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


@pytest.mark.parametrize("below", ["f.png", "deeper/f.png"])
def test_atomic_write_below_a_file_is_one_line_naming_it(tmp_path, below):
    # e.g. rlgen nas show RUN --figure a-file/f.png: a FileExistsError traceback before
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(UserError) as e:
        atomic_write_bytes(tmp_path / "a-file" / below, b"png")
    assert str(e.value) == (
        f"{tmp_path / 'a-file' / below}: cannot write it ({tmp_path / 'a-file'} is not a directory)"
    )


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
    # a long double's .item() is a long double again: it must still end as a Python float
    value = to_jsonable({"d": np.longdouble(0.5), "e": np.float32(np.nan)})
    assert value == {"d": 0.5, "e": None} and type(value["d"]) is float


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


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo unsafe",))


def test_a_malicious_or_foreign_checkpoint_is_one_line_without_unsafe_advice(tmp_path):
    import torch

    torch.save(_Payload(), tmp_path / "evil.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    for name in ("evil.pt", "junk.pt"):
        with pytest.raises(UserError) as info:
            load_checkpoint(tmp_path / name)
        message = str(info.value)
        assert "\n" not in message and "weights_only" not in message, message
        assert message.startswith(f"{tmp_path / name}: cannot read the checkpoint")


# --- configs back from config.json, and --resume option checks ----------------------------


@dataclass(frozen=True)
class Inner:
    lr: float = 0.1
    hidden: tuple[int, ...] = (32,)


@dataclass(frozen=True)
class Outer:
    seed: int = 0
    out: Path | None = None
    inner: Annotated[Inner, tyro.conf.OmitArgPrefixes] = field(default_factory=Inner)
    child: Inner = field(default_factory=Inner)

    def __post_init__(self) -> None:
        check_range("seed", self.seed, 0)


def test_config_round_trips_through_json_with_nested_tuples_and_paths(tmp_path):
    config = Outer(seed=4, out=tmp_path, inner=Inner(0.5, (3, 4)), child=Inner(hidden=(7,)))
    data = json.loads(json.dumps(to_jsonable(config)))
    assert config_from_dict(Outer, data) == config
    assert config_from_dict(Outer, {"seed": 2}) == Outer(seed=2)  # missing fields: defaults


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sed": 1}, "unknown Outer fields sed"),
        ({"inner": {"lr": 1, "width": 3}}, "unknown Inner fields width"),
        ({"seed": -1}, "--seed must be >= 0"),
        ([1, 2], "expected an object"),
    ],
)
def test_a_damaged_config_is_a_user_error(data, message):
    with pytest.raises(UserError, match=message):
        config_from_dict(Outer, data)


def test_changed_options_are_spelled_as_on_the_command_line():
    config = Outer(seed=1, inner=Inner(lr=0.3), child=Inner(hidden=(2,)))
    assert changed_options(config) == ["--seed", "--lr", "--child.hidden"]
    assert changed_options(Outer()) == []


# --- exact resume: schedules, RNG parts, checkpoints of named parts -------------------------


def test_every_is_due_at_the_first_count_past_each_multiple():
    every = Every(2000)
    due = [c for c in (0, 1999, 2000, 2001, 3999, 4013, 4100, 9000, 9001) if every(c)]
    assert due == [2000, 4013, 9000]
    copy = Every(2000)
    copy.load_state_dict(every.state_dict())
    assert not copy(9500) and copy(10_000)


def test_checkpoint_restores_every_part_and_refuses_other_kinds(tmp_path):
    import torch

    rng = np.random.default_rng(1)
    net = torch.nn.Linear(3, 2)
    schedule = Every(5)
    schedule(7)
    parts = {"net": net, "numpy": NumpyRNG(rng), "torch": GlobalRNG(), "every": schedule}
    checkpoint = Checkpoint(tmp_path / "c.pt", parts, kind="toy/1")
    checkpoint.save(note=3)
    expected = (rng.random(3), torch.rand(3), net.weight.detach().clone())
    with torch.no_grad():
        net.weight.zero_()
    rng.random(10), torch.rand(10), schedule(50)
    assert checkpoint.load() == {"note": 3}
    np.testing.assert_array_equal(rng.random(3), expected[0])
    assert torch.equal(torch.rand(3), expected[1]) and torch.equal(net.weight, expected[2])
    assert schedule.next == 10
    with pytest.raises(UserError, match="not a checkpoint of this kind"):
        Checkpoint(tmp_path / "c.pt", {}, kind="other/1").load()
    with pytest.raises(UserError, match="the saved net does not fit"):
        Checkpoint(tmp_path / "c.pt", {"net": torch.nn.Linear(4, 2)}, kind="toy/1").load()


# --- run directories: one owner, never clobbered ------------------------------------------


def test_a_second_process_cannot_write_a_locked_run_directory(tmp_path):
    code = (
        "import sys, time; from rlgen.runs import Run; from dataclasses import dataclass\n"
        "@dataclass(frozen=True)\nclass C:\n    seed: int = 0\n"
        "r = Run('toy', C(), sys.argv[1]); print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "r")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match="another rlgen process is writing"):
            Run("toy", Toy(), tmp_path / "r", overwrite=True)
        assert (tmp_path / "r" / "config.json").is_file()  # the owner's files are untouched
    finally:
        holder.kill()  # kill -9: the OS drops the lock with the process
        holder.wait()
    with Run("toy", Toy(), tmp_path / "r", overwrite=True) as r:
        r.finish({})


def test_a_non_empty_directory_is_refused_unless_resumed_or_overwritten(tmp_path):
    with Run("toy", Toy(), tmp_path / "r") as r:
        r.metrics.log(1, {"x": 1.0})
        r.finish({"x": 1})
    with pytest.raises(UserError, match="not empty") as refused:
        Run("toy", Toy(), tmp_path / "r")
    # --resume is offered only as far as it exists (bandit, mdp, reproduce have none)
    assert "--resume where the command has it" in str(refused.value)
    with pytest.raises(UserError, match="not a 'other' run directory"):
        Run("other", Toy(), tmp_path / "r", resume=True)
    with Run("toy", Toy(), tmp_path / "r", resume=True) as r:  # same command: continues
        assert read_metrics(tmp_path / "r")[0]["x"] == 1.0
    (tmp_path / "r" / "stray.txt").write_text("x")
    with Run("toy", Toy(), tmp_path / "r", overwrite=True) as r:
        assert not (tmp_path / "r" / "stray.txt").exists()
        assert not (tmp_path / "r" / "summary.json").exists()


@pytest.mark.parametrize("out", ["", "."])
def test_the_current_directory_is_not_a_run_directory(out):
    with pytest.raises(UserError, match="not the current directory"):
        Run("toy", Toy(), out)


def test_out_below_a_file_or_unwritable_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="--out"):
        Run("toy", Toy(), tmp_path / "file" / "run")
    with pytest.raises(UserError, match="--out"):
        Run("toy", Toy(), "/proc/rlgen-run")


def test_a_run_that_fails_on_its_input_leaves_no_directory(tmp_path):
    with pytest.raises(UserError), Run("toy", Toy(), tmp_path / "r"):
        raise UserError("bad input found while running")
    assert not (tmp_path / "r").exists()


def test_metrics_rewrite_is_atomic_and_keeps_the_index_integer(tmp_path, monkeypatch):
    w = MetricsWriter(tmp_path, tensorboard=False)
    for step in (1, 2, 3):
        w.log(step, {"x": 0.5})
    w.log(4, {"y": 1.0})  # a new column: the file is rewritten
    w.close()
    text = (tmp_path / "metrics.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in text] == ["step", "1", "2", "3", "4"]
    w = MetricsWriter(tmp_path, tensorboard=False, append=True)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # a kill in the middle of the rewrite

    monkeypatch.setattr("rlgen.files.os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        w.truncate_after(2)
    monkeypatch.undo()
    assert (tmp_path / "metrics.csv").read_text().splitlines() == text  # the old file, whole
    assert not list(tmp_path.glob(".metrics.csv.*"))


# --- review fixes: locks released on refusal, results kept, failed runs undone ---------------


def test_a_refused_resume_releases_the_lock(tmp_path):
    with Run("toy", Toy(), tmp_path / "r") as r:
        r.finish({})
    (tmp_path / "r" / "config.json").write_text("{damaged")
    with pytest.raises(UserError, match="not valid JSON"):
        Run("toy", Toy(), tmp_path / "r", resume=True)
    with Run("toy", Toy(), tmp_path / "r", overwrite=True) as r:  # not "another process"
        r.finish({})


def test_a_run_that_cannot_start_releases_the_lock_and_says_why(tmp_path):
    with Run("toy", Toy(), tmp_path / "r") as r:
        r.finish({})
    (tmp_path / "r" / "metrics.csv").write_bytes(b"\xff\xfe\x00garbage\n")
    with pytest.raises(UserError, match=r"metrics\.csv: not a metrics file"):
        Run("toy", Toy(), tmp_path / "r", resume=True)
    with Run("toy", Toy(), tmp_path / "r", overwrite=True) as r:
        r.finish({})


def test_a_failing_sweep_keeps_the_results_of_its_finished_seeds(tmp_path):
    with pytest.raises(UserError), Run("toy", Toy(), tmp_path / "sweep") as r:
        (r.path / "seed-0").mkdir()
        (r.path / "seed-0" / "summary.json").write_text("{}")
        (r.path / "seed-1").mkdir()
        (r.path / "seed-1" / "checkpoint.pt").write_bytes(b"")
        raise UserError("seed 2 failed on its input")
    assert (tmp_path / "sweep" / "seed-0" / "summary.json").is_file()
    assert (tmp_path / "sweep" / "seed-1" / "checkpoint.pt").is_file()


def test_a_run_that_fails_in_an_empty_directory_leaves_it_empty(tmp_path):
    (tmp_path / "r").mkdir()
    with pytest.raises(UserError), Run("toy", Toy(), tmp_path / "r"):
        raise UserError("bad input found while running")
    assert list((tmp_path / "r").iterdir()) == []
    with Run("toy", Toy(), tmp_path / "r") as r:  # trying again needs no --overwrite
        r.finish({})


def test_a_failed_run_is_removed_before_its_lock_is_released(tmp_path, monkeypatch):
    from rlgen import runs

    seen = []
    release = runs.RunLock.release

    def spy(lock):
        seen.append(lock.path.exists())
        release(lock)

    monkeypatch.setattr(runs.RunLock, "release", spy)
    with pytest.raises(UserError), Run("toy", Toy(), tmp_path / "r"):
        raise UserError("bad input")
    assert seen and seen[0] is False  # no other process could claim it half-removed


def test_overwrite_removes_links_without_following_them(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("k")
    run_dir = tmp_path / "r"
    (run_dir / "sub").mkdir(parents=True)
    (run_dir / "link").symlink_to(outside)
    (run_dir / "file-link").symlink_to(outside / "keep.txt")
    (run_dir / "sub" / "link").symlink_to(outside)
    with Run("toy", Toy(), run_dir, overwrite=True) as r:
        r.finish({})
    assert (outside / "keep.txt").read_text() == "k"
    assert not (run_dir / "link").exists() and not (run_dir / "sub").exists()


def test_resume_keeps_how_the_run_was_made_in_config_json(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["rlgen", "toy", "--out", str(tmp_path / "r")])
    with Run("toy", Toy(), tmp_path / "r") as r:
        r.finish({})
    first = json.loads((tmp_path / "r" / "config.json").read_text())
    monkeypatch.setattr(sys, "argv", ["rlgen", "toy", "--resume", str(tmp_path / "r")])
    for _ in range(2):
        with Run("toy", Toy(), tmp_path / "r", resume=True, device="cuda") as r:
            r.finish({})
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert {k: saved[k] for k in first} == first  # argv, created, device as first made
    assert [s["argv"][2] for s in saved["resumed"]] == ["--resume", "--resume"]
    assert saved["resumed"][0]["device"] == "cuda"


# --- review fixes: metrics ----------------------------------------------------------------


def test_metrics_rewrites_keep_values_as_written(tmp_path):
    # An uninterrupted run and a resumed one must write the same text: a rewrite (new column,
    # truncation) used to turn the integer 10 of earlier rows into 10.0.
    w = MetricsWriter(tmp_path, index="epoch", tensorboard=False)
    w.log(1, {"steps": 10, "loss": 0.1})
    w.log(2, {"steps": 20, "loss": 0.2, "eval": 1.5})  # a new column: rows rewritten
    w.truncate_after(2)
    w.close()
    assert (tmp_path / "metrics.csv").read_text().splitlines() == [
        "epoch,steps,loss,eval",
        "1,10,0.1,",
        "2,20,0.2,1.5",
    ]


def test_booleans_are_logged_as_numbers_that_read_back(tmp_path):
    w = MetricsWriter(tmp_path, tensorboard=False)
    w.log(1, {"solved": True})
    w.log_many(np.array([2, 3]), {"solved": np.array([False, True])})
    w.close()
    assert [r["solved"] for r in read_metrics(tmp_path)] == [1.0, 0.0, 1.0]


def test_a_damaged_metrics_file_is_a_user_error(tmp_path):
    (tmp_path / "metrics.csv").write_text("step,x\n1,0.5\n2,oops\n")
    with pytest.raises(UserError, match="not a metrics file"):
        read_metrics(tmp_path)


def test_tensorboard_shows_resumed_steps_once(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    w = MetricsWriter(tmp_path, index="epoch")
    for epoch in range(1, 6):
        w.log(epoch, {"loss": float(epoch)})
    w.close()
    w = MetricsWriter(tmp_path, index="epoch", append=True)  # killed after 5, checkpoint at 3
    w.truncate_after(3)
    for epoch in range(4, 7):
        w.log(epoch, {"loss": 100.0 + epoch})
    w.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    loss = [(e.step, e.value) for e in events.Scalars("loss")]
    assert loss == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 104.0), (5, 105.0), (6, 106.0)]


# --- review fixes: configs from JSON, resume option names ----------------------------------


@dataclass(frozen=True)
class Typed:
    mode: Literal["a", "b"] = "a"
    flag: bool = False
    steps: int = 3
    pair: tuple[float, int] = (0.5, 3)
    child_net: Inner = field(default_factory=Inner)
    extra: Inner | None = None


def test_config_fields_keep_their_types_through_json():
    config = Typed(pair=(0.25, 7), extra=Inner(lr=2.0))
    back = config_from_dict(Typed, json.loads(json.dumps(to_jsonable(config))))
    assert back == config and type(back.pair[1]) is int and type(back.extra.lr) is float


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mode": "c"}, r"config.mode: 'c' is not one of 'a', 'b'"),
        ({"flag": 1}, "config.flag: expected true or false, got 1"),
        ({"steps": "3"}, "config.steps: expected an integer, got '3'"),
        ({"steps": True}, "config.steps: expected an integer, got True"),
        ({"pair": [1, 2, 3]}, r"config.pair: expected 2 values"),
        ({"child_net": {"hidden": ["a"]}}, r"config.child_net.hidden\[0\]: expected an integer"),
    ],
)
def test_a_config_value_of_the_wrong_type_is_refused_by_name(data, message):
    with pytest.raises(UserError, match=message):
        config_from_dict(Typed, data)


def test_changed_options_spell_nested_prefixes_and_optional_configs_like_tyro():
    assert changed_options(Typed(child_net=Inner(lr=0.5))) == ["--child-net.lr"]
    assert changed_options(Typed(extra=Inner())) == ["--extra"]  # given, though at defaults


def test_options_typed_on_the_command_line_count_as_given_at_their_default_value():
    assert given_options(Outer()) == []  # from Python a default value is not told from no option
    typed = ["--seed=0", "--lr", "0.1", "--child_hidden", "32", "--resume", "r", "--quiet"]
    with typed_options(typed):
        assert given_options(Outer()) == ["--seed", "--lr", "--child.hidden"]
        assert given_options(Outer(), ignore=("child",)) == ["--seed", "--lr"]
    assert given_options(Outer()) == []  # only within the command line's context
    with typed_options(["--no-flag", "--child-net.lr=0.1", "--extra.lr", "1"]):
        assert given_options(Typed()) == ["--flag", "--child-net.lr", "--extra.lr"]


@dataclass(frozen=True)
class NestedDefault:
    inner: Inner = field(default_factory=lambda: Inner(lr=0.5))


def test_changed_options_compare_a_nested_config_with_its_default_there():
    assert changed_options(NestedDefault(Inner(lr=0.5, hidden=(3,)))) == ["--inner.hidden"]
