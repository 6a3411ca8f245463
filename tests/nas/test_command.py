"""``rlgen nas search / show / train-best``: smoke runs on tiny generated data, bad inputs, resume
after kill -9, failures, local workers and Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rlgen.cli import main
from rlgen.data import make_synthetic
from rlgen.nas.store import TrialStore

TINY = [
    "--blocks", "2", "--child.filters", "4", "--child.steps", "4", "--child.batch-size", "32",
    "--child.train-images", "160", "--child.val-images", "64", "--workers", "1", "--quiet",
]  # fmt: skip
SYNTHETIC = ["--task", "synthetic", "--space", "mnas", "--workers", "1", "--quiet"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("data"), train=256, test=64)


def rlgen(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rlgen", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def tiny_search(tmp_path_factory, data_dir):
    """A 4-trial search with the soft reward on tiny generated data; its run directory."""
    out = tmp_path_factory.mktemp("nas") / "search"
    argv = ["nas", "search", *TINY, "--trials", "4", "--batch", "2", "--data-dir", str(data_dir)]
    assert main([*argv, "--out", str(out), "--reward", "soft", "--target", "1"]) == 0
    return out


def test_search_and_show_on_tiny_data(tiny_search, capsys):
    out = tiny_search
    summary = json.loads((out / "summary.json").read_text())
    assert summary["controller"] == "reinforce" and summary["reward"] == "soft"
    assert summary["finished"] + summary["failed"] == 4 and summary["batches"] == 2
    assert summary["best"]["macs"] > 0 and summary["best"]["accuracy"] >= 0
    assert summary["cost_unit"].startswith("multiply-adds")
    for name in ("config.json", "metrics.csv", "trials.sqlite", "rewards.png", "pareto.png",
                 "best.png"):  # fmt: skip
        assert (out / name).is_file(), name
    assert not (out / "trials.sqlite-wal").exists()  # folded back at the end
    with TrialStore.reader(out) as store:
        trials = store.trials()
    assert {t.metrics["device"] for t in trials if t.status == "finished"} == {"cpu"}
    # soft reward: ACC * (MACs / 1e6)^-0.07
    t = trials[0]
    assert t.reward == pytest.approx(t.accuracy * (t.metrics["macs"] / 1e6) ** -0.07)
    metrics = (out / "metrics.csv").read_text().splitlines()
    assert metrics[0].startswith("trial,trial/reward,trial/accuracy")
    assert len(metrics) == 5 and "controller/entropy" in metrics[0]

    capsys.readouterr()
    assert main(["nas", "show", str(out), "--top", "2"]) == 0
    shown = capsys.readouterr().out
    assert "4 of 4 trials done" in shown and shown.count("N: ") == 2


@pytest.mark.slow
def test_train_best_reports_test_accuracy_over_seeds(tiny_search, data_dir, tmp_path, capsys):
    best = tmp_path / "best"
    argv = ["nas", "train-best", str(tiny_search), "--top", "1", "--seeds", "2",
            "--child.steps", "3", "--child.train-images", "100", "--child.val-images", "50",
            "--data-dir", str(data_dir), "--workers", "1", "--quiet"]  # fmt: skip
    argv += ["--out", str(best)]
    assert main(argv) == 0
    summary = json.loads((tiny_search / "summary.json").read_text())
    retrained = json.loads((best / "summary.json").read_text())
    [arch] = retrained["architectures"]
    assert arch["trial"] == summary["best"]["trial"] and arch["seeds"] == [0, 1]
    assert len(arch["test_accuracy"]) == 2 and 0 <= arch["test_accuracy_mean"] <= 1
    assert "test accuracy, mean ± 95% interval" in capsys.readouterr().out
    # the search's networks, retrained: their cost is the search trial's
    assert (
        retrained["child"]["filters"]
        == json.loads((tiny_search / "config.json").read_text())["config"]["child"]["filters"]
    )
    assert (arch["macs"], arch["params"]) == (arch["search_macs"], arch["search_params"])
    # other filters given: another network, whose own cost is reported
    wider = tmp_path / "wider"
    argv[argv.index("--out") + 1] = str(wider)
    assert main([*argv, "--child.filters", "6"]) == 0
    [other] = json.loads((wider / "summary.json").read_text())["architectures"]
    assert other["params"] != other["search_params"] and other["macs"] != other["search_macs"]


def test_synthetic_search_learns_and_compares_with_random(tmp_path, capsys):
    runs = {}
    for controller in ("reinforce", "random"):
        runs[controller] = tmp_path / controller
        argv = ["nas", "search", *SYNTHETIC, "--controller", controller, "--trials", "160"]
        assert main([*argv, "--out", str(runs[controller])]) == 0
    s = {k: json.loads((d / "summary.json").read_text()) for k, d in runs.items()}
    assert s["reinforce"]["last_quarter_mean_reward"] > s["random"]["last_quarter_mean_reward"]
    assert s["reinforce"]["last_quarter_mean_reward"] > s["reinforce"]["first_quarter_mean_reward"]
    figure = tmp_path / "both.png"
    capsys.readouterr()
    assert main(["nas", "show", str(runs["reinforce"]), str(runs["random"]), "--figure",
                 str(figure)]) == 0  # fmt: skip
    assert figure.is_file() and "random over mnas" in capsys.readouterr().out


def test_non_finite_losses_fail_trials_and_the_search_goes_on(tmp_path, data_dir):
    out = tmp_path / "nan"
    argv = ["nas", "search", *TINY, "--trials", "3", "--batch", "3", "--child.lr", "1e30"]
    assert main([*argv, "--data-dir", str(data_dir), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == 3 and summary["best"] is None and summary["batches"] == 1
    with TrialStore.reader(out) as store:
        failed = store.trials(status="failed")
    assert all(t.error.startswith("NonFiniteLoss: the training loss became") for t in failed)
    assert all("--child.lr" in t.error for t in failed)


BAD = [
    (["--space", "resnet"], "--space"),
    (["--operations", "conv9x9"], "--operations: unknown nasnet operation 'conv9x9'"),
    (["--space", "mnas", "--operations", "identity"], "--operations: unknown mnas operation"),
    (["--blocks", "0"], "--blocks must be a whole number in [1, 20], got 0"),
    (["--trials", "0"], "--trials must be in [1, 1000000], got 0"),
    (["--batch", "0"], "--batch must be in [1, 10000], got 0"),
    (["--target", "0"], "--target must be > 0, got 0"),
    (["--target", "-5"], "--target must be > 0"),
    (["--target", "nan"], "--target must be a finite number"),
    (["--w", "0.07"], "--w must be <= 0"),
    (["--reward", "latency"], "--reward"),
    (["--task", "synthetic", "--reward", "soft"], "the synthetic task has none"),
    (["--space", "mnas", "--blocks", "3"], "--blocks and --no-reduction-cell are for"),
    (["--child.steps", "0"], "--child.steps must be >= 1, got 0"),
    (["--reinforce.temperature", "0"], "--reinforce.temperature must be > 0"),
    (["--resume", "nowhere"], "not a run directory"),
    (["--child.train-images", "250", "--child.val-images", "50"], "is more than the 256"),
    (["--data-dir", "missing"], "missing"),
    (["--executor", "ray", "--ray-address", "nonsense"], "--ray-address"),
]


@pytest.mark.parametrize(("extra", "piece"), BAD, ids=[" ".join(e) for e, _ in BAD])
def test_bad_inputs_are_one_line_errors(tmp_path, data_dir, capsys, extra, piece):
    argv = ["nas", "search", "--data-dir", str(data_dir), "--quiet", *extra]
    os.chdir(tmp_path)
    status = main(argv if "--resume" in extra else [*argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("rlgen: error: ") and err.count("\n") == 1, err
    assert piece in err
    assert not (tmp_path / "out").exists()


def test_show_and_train_best_refuse_what_is_not_a_search(tmp_path, capsys):
    assert main(["nas", "show", str(tmp_path)]) == 2
    assert "no trials.sqlite here" in capsys.readouterr().err
    assert main(["nas", "train-best", str(tmp_path), "--seeds", "0"]) == 2
    assert "--seeds must be in [1, 1000], got 0" in capsys.readouterr().err


def _wait_for(path: Path, finished: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the search ended before it could be killed: {process.stderr.read()}")
        if (path / "trials.sqlite").is_file():
            try:
                with TrialStore.reader(path) as store:
                    if store.counts()["finished"] >= finished:
                        return
            except Exception:  # the store is being created
                pass
        time.sleep(0.05)
    pytest.fail("the search did not get far enough")


@pytest.mark.slow
def test_kill_9_and_resume_neither_loses_nor_repeats(tmp_path):
    argv = ["nas", "search", *SYNTHETIC, "--trials", "120", "--batch", "4"]
    whole = tmp_path / "whole"
    assert rlgen(*argv, "--out", str(whole)).returncode == 0

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "rlgen", *argv, "--out", str(killed)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _wait_for(killed, 30, process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    with TrialStore.reader(killed) as store:
        before = {t.id: (t.architecture, t.reward) for t in store.trials() if t.done}
    assert 30 <= len(before) < 120

    done = rlgen("nas", "search", "--resume", str(killed), "--quiet")
    assert done.returncode == 0, done.stderr
    with TrialStore.reader(killed) as store:
        after = store.trials()
    with TrialStore.reader(whole) as store:
        reference = store.trials()
    assert [t.id for t in after] == list(range(120))
    # nothing finished was lost or rerun: same results, and at most one attempt for those
    assert all((after[i].architecture, after[i].reward) == v for i, v in before.items())
    assert all(after[i].attempts == 1 for i in before)
    # and the search is the uninterrupted one
    assert [(t.architecture, t.reward) for t in after] == [
        (t.architecture, t.reward) for t in reference
    ]
    metrics = (killed / "metrics.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in metrics[1:]] == list(range(120))


@pytest.mark.slow
def test_a_dying_worker_is_a_failed_trial_with_local_workers(tmp_path):
    from tests.nas.helpers import dies_on_trial_2

    from rlgen.executors import ExecutorOptions
    from rlgen.nas.controller import ControllerConfig, make_search
    from rlgen.nas.rewards import RewardConfig
    from rlgen.nas.search import ChildConfig, Plan, TrialJob, run_search
    from rlgen.nas.spaces import make_space

    space = make_space("mnas")
    target = space.sample(np.random.default_rng(0))

    def job(trial, arch):
        return TrialJob(trial, 0, space.spec, arch, "synthetic", ChildConfig(), None, "cpu",
                        target=target)  # fmt: skip

    store = TrialStore.create(tmp_path, {})
    plan = Plan(6, 6, RewardConfig(), ExecutorOptions(workers=2))
    run_search(make_search("reinforce", space, ControllerConfig(), 0), store, plan, job,
               trial_fn=dies_on_trial_2)  # fmt: skip
    assert store.counts() == {"pending": 0, "running": 0, "finished": 5, "failed": 1}
    [failed] = store.trials(status="failed")
    assert failed.id == 2 and "worker died, exit code 9" in failed.error


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_worker_killed_between_batches_costs_no_trial(tmp_path):
    # the search keeps its workers from batch to batch; one killed while idle (the OOM killer
    # picks them too: they keep the data loaded) is replaced before the next batch's jobs
    from rlgen.executors import ExecutorOptions
    from rlgen.nas.controller import ControllerConfig, make_search
    from rlgen.nas.rewards import RewardConfig
    from rlgen.nas.search import ChildConfig, Plan, TrialJob, run_search
    from rlgen.nas.spaces import make_space

    space = make_space("mnas")
    target = space.sample(np.random.default_rng(0))

    def job(trial, arch):
        return TrialJob(trial, 0, space.spec, arch, "synthetic", ChildConfig(), None, "cpu",
                        target=target)  # fmt: skip

    killed: list[int] = []

    def kill_a_worker(k, info):
        if k == 0:
            pid = int(store.trials(batch=0)[0].worker.removeprefix("pid "))
            os.kill(pid, signal.SIGKILL)
            while _state(pid) != "Z":  # dead, not yet reaped
                time.sleep(0.01)
            killed.append(pid)

    store = TrialStore.create(tmp_path, {})
    plan = Plan(8, 4, RewardConfig(), ExecutorOptions(workers=2))
    run_search(make_search("reinforce", space, ControllerConfig(), 0), store, plan, job,
               on_batch=kill_a_worker)  # fmt: skip
    trials = [(t.id, t.batch, t.status, t.worker, t.error) for t in store.trials()]
    counts = {"pending": 0, "running": 0, "finished": 8, "failed": 0}
    assert killed and store.counts() == counts, (killed, trials)
    assert f"pid {killed[0]}" not in {t.worker for t in store.trials(batch=1)}


def _state(pid: int) -> str:
    """A process's state letter from /proc (Z, zombie, also for one already reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.slow
def test_ray_executor_on_a_local_instance(tmp_path):
    if os.environ.get("CI") != "true":
        pytest.importorskip("ray", reason="Ray is not installed (pip install 'rlgen[ray]')")
    out = tmp_path / "ray"
    argv = ["nas", "search", "--task", "synthetic", "--space", "mnas", "--trials", "8",
            "--batch", "4", "--executor", "ray", "--cpus-per-job", "0.5", "--quiet"]  # fmt: skip
    done = rlgen(*argv, "--out", str(out), timeout=300)  # 20-30 s here; a hung Ray fails
    assert done.returncode == 0, done.stderr
    with TrialStore.reader(out) as store:
        trials = store.trials()
    assert len(trials) == 8 and all(t.status == "finished" for t in trials)
    assert all(t.worker.startswith("node ") for t in trials)


def test_a_kill_in_the_middle_of_a_batchs_rows_writes_them_once_on_resume(tmp_path):
    from rlgen.cli import main

    out = tmp_path / "s"
    assert (
        main(["nas", "search", *SYNTHETIC, "--trials", "12", "--batch", "4", "--out", str(out)])
        == 0
    )
    lines = (out / "metrics.csv").read_text().splitlines()
    (out / "metrics.csv").write_text("\n".join(lines[:-2]) + "\n")  # rows of trials 10, 11 lost
    (out / "summary.json").unlink()
    assert main(["nas", "search", "--resume", str(out), "--quiet"]) == 0
    rows = (out / "metrics.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in rows] == list(range(12))


def _killed_inside_create(left: str):
    """A stand-in for TrialStore.create killed at once (``left``: what it leaves behind)."""
    import sqlite3

    from rlgen.nas import store as store_module

    def create(run_dir, meta):
        path = Path(run_dir) / store_module.FILE
        if left == "an empty file":
            path.touch()
        elif left == "tables without meta":
            db = sqlite3.connect(path)
            db.executescript(store_module._SCHEMA)
            db.close()
        raise KeyboardInterrupt  # as a kill: the run directory stays as it is

    return create


@pytest.mark.parametrize("left", ["no store", "an empty file", "tables without meta"])
def test_a_search_killed_while_creating_its_store_resumes_afresh(
    tmp_path, monkeypatch, capsys, left
):
    argv = ["nas", "search", *SYNTHETIC, "--trials", "8", "--batch", "4"]
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    with monkeypatch.context() as m:
        m.setattr(TrialStore, "create", _killed_inside_create(left))
        assert main([*argv, "--out", str(tmp_path / "killed")]) == 130
    assert (tmp_path / "killed" / "config.json").is_file()
    if left != "no store":  # nas show says what happened and what to do
        assert main(["nas", "show", str(tmp_path / "killed")]) == 2
        err = capsys.readouterr().err
        assert "half created" in err and "--resume" in err and "another version" not in err
    assert main(["nas", "search", "--resume", str(tmp_path / "killed"), "--quiet"]) == 0
    runs = []
    for name in ("whole", "killed"):
        with TrialStore.reader(tmp_path / name) as store:
            runs.append([(t.architecture, t.reward) for t in store.trials()])
    assert len(runs[0]) == 8 and runs[1] == runs[0]
    (tmp_path / "killed" / "trials.sqlite").unlink()  # a finished search is not started again
    assert main(["nas", "search", "--resume", str(tmp_path / "killed"), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cpus_per_job_beyond_the_machine_trains_on_its_cores(tmp_path, data_dir):
    from rlgen.executors import ExecutorOptions
    from rlgen.nas.command import job_threads

    cores = os.cpu_count() or 1
    assert job_threads(ExecutorOptions(cpus_per_job=1e308)) == cores
    assert job_threads(ExecutorOptions(cpus_per_job=0.5)) == 1
    assert job_threads(ExecutorOptions(cpus_per_job=2.5)) == min(2, cores)
    out = tmp_path / "cpus"
    argv = ["nas", "search", *TINY, "--trials", "2", "--batch", "2", "--cpus-per-job", "1e308"]
    assert main([*argv, "--data-dir", str(data_dir), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] == 2 and summary["failed"] == 0  # torch refused 1e308 threads
    # a job given more threads than its machine has (a Ray node smaller than --cpus-per-job)
    # trains on that machine's cores
    import torch

    from rlgen.nas.search import ChildConfig, TrialJob, run_trial
    from rlgen.nas.spaces import make_space

    space = make_space("nasnet", blocks=1)
    child = ChildConfig(filters=2, steps=1, train_images=64, val_images=32, batch_size=32)
    job = TrialJob(0, 0, space.spec, space.sample(np.random.default_rng(0)), "fashion-mnist",
                   child, str(data_dir), "cpu", threads=10**9)  # fmt: skip
    before = torch.get_num_threads()
    try:
        assert 0 <= run_trial(job)["accuracy"] <= 1
        assert torch.get_num_threads() <= cores
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def synthetic_search(tmp_path_factory):
    out = tmp_path_factory.mktemp("nas") / "synthetic"
    argv = ["nas", "search", *SYNTHETIC, "--trials", "4", "--batch", "2", "--out", str(out)]
    assert main(argv) == 0
    return out


DAMAGED = [
    ("DROP TABLE updates", "a damaged trial store (no table 'updates')"),
    ("UPDATE meta SET value = '[1, 2]' WHERE key = 'space'", "its search space [1, 2] is not one"),
    ("DELETE FROM meta WHERE key = 'space'", "its search space None is not one"),
    ("UPDATE meta SET value = '3' WHERE key = 'config'", None),  # show: no config, no error
    ("UPDATE trials SET architecture = '[1]'", "'s architecture is not one of its search space"),
    ("UPDATE trials SET metrics = 'x' WHERE id = 1", "trial 1's metrics is not valid JSON"),
]


@pytest.mark.parametrize(("script", "piece"), DAMAGED, ids=[s for s, _ in DAMAGED])
def test_damaged_stores_are_one_line_errors(tmp_path, synthetic_search, capsys, script, piece):
    import shutil
    import sqlite3

    run_dir = tmp_path / "damaged"
    shutil.copytree(synthetic_search, run_dir)
    (run_dir / "summary.json").unlink()
    db = sqlite3.connect(run_dir / "trials.sqlite")
    db.executescript(script)
    db.commit()
    db.close()
    for argv in (
        ["nas", "show", str(run_dir)],
        ["nas", "train-best", str(run_dir), "--quiet"],
        ["nas", "search", "--resume", str(run_dir), "--quiet"],
    ):
        capsys.readouterr()
        status = main(argv)
        err = capsys.readouterr().err
        if piece is None:
            assert status == 0 or "synthetic search has no networks" in err, err
            continue
        assert status == 2, (argv, err)
        assert err.startswith("rlgen: error: ") and err.count("\n") == 1, err
        assert piece in err and "trials.sqlite" in err


def test_show_and_train_best_take_more_than_sqlite_counts(synthetic_search, capsys):
    assert main(["nas", "show", str(synthetic_search), "--top", str(10**20)]) == 0
    assert "4 of 4 trials done" in capsys.readouterr().out
    status = main(["nas", "train-best", str(synthetic_search), "--top", str(10**20)])
    assert status == 2 and "a synthetic search has no networks" in capsys.readouterr().err


def test_show_figure_keeps_searches_of_the_same_name_apart(tmp_path, synthetic_search, monkeypatch):
    import shutil

    from rlgen.nas import command

    for parent in ("a", "b"):
        shutil.copytree(synthetic_search, tmp_path / parent / "search")
    drawn = []

    def plot_rewards(searches, path, **kwargs):
        drawn.append(list(searches))
        return path

    monkeypatch.setattr(command, "plot_rewards", plot_rewards)
    a, b = str(tmp_path / "a" / "search"), str(tmp_path / "b" / "search")
    figure = ["--figure", str(tmp_path / "f.png")]
    assert main(["nas", "show", a, b, *figure]) == 0
    assert main(["nas", "show", a, a, *figure]) == 0
    assert main(["nas", "show", a, str(synthetic_search), *figure]) == 0
    assert drawn == [
        [f"reinforce {a}", f"reinforce {b}"],  # the same name: the whole paths
        [f"reinforce {a}", f"reinforce {a} (2)"],
        ["reinforce search", "reinforce synthetic"],
    ]


IGNORED = [
    (["--controller", "random", "--reinforce.lr", "0.01"], "--reinforce.lr is for --controller "
     "reinforce: random search learns nothing; leave it out"),  # the default, typed
    (["--controller", "random", "--reinforce.hidden", "8"], "--reinforce.hidden is for"),
    (["--task", "synthetic", "--child.steps", "3"], "--child.steps is for --task fashion-mnist"),
    (["--task", "synthetic", "--data-dir", "x"], "--data-dir is for --task fashion-mnist"),
    (["--noise", "0.1"], "--noise is for --task synthetic only; leave it out"),
    (["--target", "3"], "--target is for --reward soft or hard"),
    (["--reward", "hard", "--w", "-0.1"], "--w is for --reward soft only: --reward hard would"),
    (["--space", "mnas", "--child.cells", "2"], "--child.cells is for --space nasnet"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "piece"), IGNORED, ids=[" ".join(e) for e, _ in IGNORED])
def test_options_the_search_would_ignore_are_refused(tmp_path, data_dir, capsys, extra, piece):
    argv = ["nas", "search", "--quiet", "--out", str(tmp_path / "out"), *extra]
    if "--data-dir" not in extra:
        argv += ["--data-dir", str(data_dir)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlgen: error: ") and err.count("\n") == 1 and piece in err, err
    assert not (tmp_path / "out").exists()


def test_show_figure_labels_stay_distinct_where_a_number_meets_a_name():
    from rlgen.nas.command import _labels

    dirs = ["x", "x", "x (2)", "a/x (2)"]
    labels = _labels([{"controller": "reinforce", "run_dir": d} for d in dirs])
    # the second x is numbered past the directory really named 'x (2)', which keeps its label
    assert labels == ["reinforce x", "reinforce x (3)", "reinforce x (2)", "reinforce a/x (2)"]
