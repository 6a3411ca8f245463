"""The trial store and the search loop on it: nothing finished is lost or run twice."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import torch

from rlgen.errors import UserError
from rlgen.executors import ExecutorOptions
from rlgen.nas.controller import ControllerConfig, make_search
from rlgen.nas.rewards import RewardConfig
from rlgen.nas.search import ChildConfig, Plan, TrialJob, run_search, run_trial
from rlgen.nas.spaces import make_space
from rlgen.nas.store import FILE, TrialStore

SPACE = make_space("mnas")
TARGET = SPACE.sample(np.random.default_rng(9))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_job(trial, arch):
    return TrialJob(
        trial, 0, SPACE.spec, arch, "synthetic", ChildConfig(), None, "cpu", target=TARGET
    )


def plan(trials, batch=4):
    return Plan(trials, batch, RewardConfig(), ExecutorOptions(workers=1))


def test_store_round_trip(tmp_path):
    store = TrialStore.create(tmp_path, {"space": SPACE.spec, "seed": 3})
    assert store.meta("seed") == 3 and store.meta("space") == SPACE.spec
    assert store.controller_state() is None and store.batches_done() == 0
    archs = [SPACE.sample(np.random.default_rng(i)) for i in range(3)]
    ids = store.propose(0, archs, {"x": torch.arange(3)})
    assert ids == [0, 1, 2]
    store.start(ids)
    store.finish(
        0, reward=0.5, accuracy=0.5, metrics={"macs": 7}, worker="pid 1", started=1.0, finished=3.5
    )
    store.fail(1, error="ValueError: boom", traceback="tb", worker="pid 2", started=2, finished=3)
    assert store.counts() == {"pending": 0, "running": 1, "finished": 1, "failed": 1}
    t0, t1, t2 = store.trials()
    assert t0.architecture == archs[0] and t0.metrics == {"macs": 7} and t0.seconds == 2.5
    assert t0.attempts == 1 and t0.done and t1.done and not t2.done
    assert t1.error == "ValueError: boom" and t1.reward is None
    store.complete_batch(0, {"x": torch.arange(4)}, {"controller/loss": 0.25})
    store.close()
    # another process reads it, read-only
    reader = TrialStore.reader(tmp_path)
    assert reader.batches_done() == 1
    assert torch.equal(reader.controller_state()["x"], torch.arange(4))
    assert reader.updates() == [(0, {"controller/loss": 0.25})]
    assert [t.id for t in reader.best(5)] == [0]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader._db.execute("DELETE FROM trials")
    reader.close()
    assert (tmp_path / FILE).is_file()
    with pytest.raises(UserError, match="already here"):
        TrialStore.create(tmp_path, {})


def test_wal_mode_and_parameterised_values(tmp_path):
    store = TrialStore.create(tmp_path, {"name": "x'); DROP TABLE trials; --"})
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.meta("name") == "x'); DROP TABLE trials; --"
    assert store.trials() == []


def test_not_a_store(tmp_path):
    (tmp_path / FILE).write_bytes(b"not a database at all, just bytes" * 10)
    with pytest.raises(UserError, match="not a trial store"):
        TrialStore.reader(tmp_path)
    with pytest.raises(UserError, match=r"no trials\.sqlite"):
        TrialStore.open(tmp_path / "elsewhere")


def test_search_loop_stores_every_trial_and_update(tmp_path):
    store = TrialStore.create(tmp_path, {})
    search = make_search("reinforce", SPACE, ControllerConfig(), seed=0)
    seen = []
    run_search(search, store, plan(10), make_job, on_trial=seen.append)
    trials = store.trials()
    assert [t.id for t in trials] == list(range(10)) and len(seen) == 10
    assert [t.batch for t in trials] == [0] * 4 + [1] * 4 + [2] * 2
    assert all(t.status == "finished" and t.attempts == 1 for t in trials)
    assert store.batches_done() == 3 and len(store.updates()) == 3


class Crash(RuntimeError):
    pass


def crash_on_trials(crashing):
    def trial_fn(job):
        if job.trial in crashing:
            raise Crash(f"trial {job.trial} crashed")
        return run_trial(job)

    return trial_fn


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path):
    store = TrialStore.create(tmp_path, {})
    search = make_search("reinforce", SPACE, ControllerConfig(), seed=0)
    run_search(search, store, plan(8), make_job, trial_fn=crash_on_trials({1, 2, 3}))
    counts = store.counts()
    assert counts == {"pending": 0, "running": 0, "finished": 5, "failed": 3}
    failed = store.trials(status="failed")
    assert [t.id for t in failed] == [1, 2, 3]
    assert failed[0].error == "Crash: trial 1 crashed" and "Crash" in failed[0].traceback
    # the controller learnt from the batch's one finished trial
    assert store.updates()[0][1]["controller/architectures"] == 1.0


class Killed(BaseException):
    """Stands in for kill -9 in the middle of a batch (a BaseException: nothing catches it)."""


def test_resume_mid_batch_neither_loses_nor_repeats(tmp_path):
    # uninterrupted
    whole = TrialStore.create(tmp_path / "whole", {})
    run_search(make_search("reinforce", SPACE, ControllerConfig(), 0), whole, plan(12), make_job)

    # killed while trial 6 runs (batch 1), then resumed by a fresh process's objects
    store = TrialStore.create(tmp_path / "killed", {})
    calls = []

    def dies_at_trial_6(job):
        calls.append(job.trial)
        if job.trial == 6:
            raise Killed
        return run_trial(job)

    with pytest.raises(Killed):
        run_search(
            make_search("reinforce", SPACE, ControllerConfig(), 0),
            store,
            plan(12),
            make_job,
            trial_fn=dies_at_trial_6,
        )
    store.close()
    store = TrialStore.open(tmp_path / "killed")
    assert store.counts() == {"pending": 0, "running": 2, "finished": 6, "failed": 0}
    finished_before = {t.id: t.reward for t in store.trials(status="finished")}
    rerun = []

    def counting(job):
        rerun.append(job.trial)
        return run_trial(job)

    fresh = make_search(
        "reinforce", SPACE, ControllerConfig(), seed=12345
    )  # state comes from the store
    run_search(fresh, store, plan(12), make_job, trial_fn=counting)
    assert rerun == [6, 7, 8, 9, 10, 11]  # only the interrupted and the new trials
    assert {t.id: t.reward for t in store.trials() if t.id in finished_before} == finished_before
    # and the result is the uninterrupted search's
    assert [(t.architecture, t.reward) for t in store.trials()] == [
        (t.architecture, t.reward) for t in whole.trials()
    ]
    assert store.trial(6).attempts == 2 and store.trial(5).attempts == 1


def _stored(path, trials=3):
    """A closed store of ``trials`` finished trials in ``path``; its file."""
    store = TrialStore.create(path, {"space": SPACE.spec})
    ids = store.propose(0, [SPACE.sample(np.random.default_rng(i)) for i in range(trials)], {})
    for i in ids:
        store.finish(i, reward=i / 10, accuracy=i / 10, metrics={}, worker=None, started=0,
                     finished=1)  # fmt: skip
    store.close()
    return path / FILE


def _sql(path, script):
    db = sqlite3.connect(path)
    db.executescript(script)
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("DROP TABLE trials", "a damaged trial store (no table 'trials')"),
        ("DROP TABLE controller", "a damaged trial store (no table 'controller')"),
        ("ALTER TABLE trials DROP COLUMN attempts", "table 'trials' lacks ['attempts']"),
        ("UPDATE meta SET value = '2' WHERE key = 'schema'", "a trial store of another version"),
    ],
)
def test_a_store_of_another_schema_is_one_line(tmp_path, script, message):
    _sql(_stored(tmp_path), script)
    for opening in (TrialStore.reader, TrialStore.open):
        with pytest.raises(UserError) as error:
            opening(tmp_path)
        assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("DELETE FROM meta WHERE key = 'space'", "its search space None is not one"),
        ("UPDATE meta SET value = '[1, 2]' WHERE key = 'space'", "its search space [1, 2]"),
        (
            """UPDATE meta SET value = '{"name": "nasnet", "operations": ["conv9"]}'
               WHERE key = 'space'""",
            "knows (operations: unknown nasnet operation 'conv9'",
        ),
        ("UPDATE meta SET value = '{oops' WHERE key = 'space'", "meta 'space' is not valid JSON"),
    ],
)
def test_a_damaged_space_is_one_line(tmp_path, script, message):
    _sql(_stored(tmp_path), script)
    with TrialStore.reader(tmp_path) as store, pytest.raises(UserError, match="damaged") as error:
        store.space()
    assert message in str(error.value) and "--operations" not in str(error.value)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("UPDATE trials SET architecture = '[0, ' WHERE id = 1", "architecture is not valid JSON"),
        ("UPDATE trials SET architecture = '7' WHERE id = 1", "not a list of choices: 7"),
        ("UPDATE trials SET architecture = '[0.5]' WHERE id = 1", "not a list of choices"),
        ("UPDATE trials SET metrics = '[]' WHERE id = 1", "metrics are not a JSON object"),
        ("UPDATE trials SET reward = 'high' WHERE id = 1", "trial 1's reward is 'high'"),
        (
            """UPDATE trials SET metrics = '{"macs": "many"}' WHERE id = 1""",
            "trial 1's metric macs is 'many'",
        ),
    ],
)
def test_a_damaged_trial_is_one_line(tmp_path, script, message):
    _sql(_stored(tmp_path), script)
    with TrialStore.reader(tmp_path) as store:
        for read in (store.trials, lambda: store.best(5), lambda: store.trial(1)):
            with pytest.raises(UserError, match="a damaged trial store: trial 1") as error:
                read()
            assert message in str(error.value)


def test_sqlite_errors_after_opening_are_one_line(tmp_path):
    # the controller table's page overwritten: opening reads none of its rows, batches_done does
    path = _stored(tmp_path)
    db = sqlite3.connect(path)
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'controller'").fetchone()
    (page,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    with path.open("r+b") as f:
        f.seek((root - 1) * page)
        f.write(b"\xff" * page)
    with TrialStore.reader(tmp_path) as store:
        assert len(store.trials()) == 3
        with pytest.raises(UserError, match=r"trials\.sqlite: the trial store failed \(database"):
            store.batches_done()


def test_best_of_more_than_sqlite_counts(tmp_path):
    _stored(tmp_path)
    with TrialStore.reader(tmp_path) as store:
        assert [t.id for t in store.best(10**20)] == [2, 1, 0]


@pytest.mark.parametrize(
    ("script", "read", "message"),
    [
        ("UPDATE updates SET metrics = '{oops'", "updates", "update 0's metrics is not valid"),
        ("UPDATE updates SET metrics = '[1]'", "updates", "update 0's metrics are not a JSON"),
        ("UPDATE controller SET batches = 'x'", "batches_done", "batches done is 'x'"),
    ],
)
def test_a_damaged_update_is_one_line(tmp_path, script, read, message):
    path = _stored(tmp_path)
    with TrialStore.open(tmp_path) as store:
        store.complete_batch(0, {}, {"controller/loss": 0.5})
        assert store.updates() == [(0, {"controller/loss": 0.5})] and store.batches_done() == 1
    _sql(path, script)
    with TrialStore.reader(tmp_path) as store, pytest.raises(UserError) as error:
        getattr(store, read)()
    assert "trials.sqlite: a damaged trial store: " in str(error.value)
    assert message in str(error.value) and "\n" not in str(error.value)
