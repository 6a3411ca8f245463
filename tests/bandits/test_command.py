"""rlgen bandit: the config and its agent specs, bad inputs (one line, status 2), the run
directory and redrawing its figure from the files alone."""

from __future__ import annotations

import json

import pytest

from rlgen import bandits
from rlgen.bandits import BanditConfig
from rlgen.cli import main
from rlgen.errors import UserError
from rlgen.runs import Run

# --- bad inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "--k must be in [1, 32767], got 0"),
        ({"seed": 2**63}, "--seed must be in [0, 9223372036854775807], got 9223372036854775808"),
        ({"runs": 0}, "--runs must be >= 1, got 0"),
        ({"steps": -5}, "--steps must be >= 1, got -5"),
        ({"epsilon": (0.1, 1.5)}, "--epsilon must be in [0, 1], got 1.5"),
        ({"epsilon": (-0.1,)}, "--epsilon must be in [0, 1], got -0.1"),
        ({"alpha": (0.0,)}, "--alpha must be in (0, 1], got 0"),
        ({"alpha": (1.2,)}, "--alpha must be in (0, 1], got 1.2"),
        ({"c": (-1.0,)}, "--c must be >= 0, got -1"),
        ({"agent": ("thompson",)}, "--agent: unknown agent 'thompson'"),
        ({"agent": ("ucb:epsilon=0.1",)}, "ucb takes c, alpha, initial"),
        ({"agent": ("eps-greedy:epsilon=2",)}, "--epsilon must be in [0, 1], got 2"),
        ({"agent": ("gradient:baseline=maybe",)}, "baseline must be true or false"),
        ({"agent": ()}, "--agent: give at least one"),
        ({"walk_std": -1.0}, "--walk-std must be in [0, 1e+06], got -1"),
        ({"k": 40_000}, "--k must be in [1, 32767], got 40000"),
        ({"initial": (float("nan"),)}, "--initial must be a finite number, got nan"),
        ({"true_mean": float("inf")}, "--true-mean must be a finite number, got inf"),
        ({"walk_std": float("inf")}, "--walk-std must be a finite number, got inf"),
        ({"c": (float("inf"),)}, "--c must be a finite number, got inf"),
        ({"baseline": (1,)}, "--baseline must be true or false"),
        ({"epsilon": ()}, "--agent: an empty parameter list leaves no agent to run"),
        ({"agent": ("ucb:c",)}, "ucb takes c, alpha, initial (as key=value), not 'c'"),
        ({"agent": ("ucb:c=lots",)}, "--agent ucb:c=lots: c must be a number, got 'lots'"),
        ({"agent": ("ucb:c=1,c=2",)}, "--agent ucb:c=1,c=2: c is given twice"),
        # beyond these, float64 sums of rewards overflow: NaN curves and no summary
        ({"true_mean": 1e308}, "--true-mean must be in [-1e+06, 1e+06], got 1e+308"),
        ({"walk_std": 1e308}, "--walk-std must be in [0, 1e+06], got 1e+308"),
    ],
)
def test_bad_inputs_raise_a_clear_user_error(kwargs, message):
    with pytest.raises(UserError, match=None) as info:
        BanditConfig(**kwargs)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("spec", "plain"),
    [
        ("greedy:initial=inf", {"agent": ("greedy",), "initial": (float("inf"),)}),
        ("greedy:initial=nan", {"agent": ("greedy",), "initial": (float("nan"),)}),
        ("ucb:c=inf", {"agent": ("ucb",), "c": (float("inf"),)}),
        ("ucb:c=-1", {"agent": ("ucb",), "c": (-1.0,)}),
        ("eps-greedy:epsilon=2", {"epsilon": (2.0,)}),
        ("eps-greedy:epsilon=-inf", {"epsilon": (float("-inf"),)}),
        ("eps-greedy:alpha=0", {"alpha": (0.0,)}),
        ("gradient:alpha=1.5", {"agent": ("gradient",), "alpha": (1.5,)}),
        ("gradient:alpha=inf", {"agent": ("gradient",), "alpha": (float("inf"),)}),
    ],
)
def test_inline_parameters_get_the_checks_of_the_plain_options(spec, plain):
    """``kind:key=value`` is refused exactly when ``--key value`` is, with the same message
    (after naming the spec)."""
    with pytest.raises(UserError) as inline:
        BanditConfig(agent=(spec,))
    with pytest.raises(UserError) as option:
        BanditConfig(**plain)
    assert str(inline.value) == f"--agent {spec}: {option.value}"


@pytest.mark.parametrize(
    "args",
    [
        ["--agent", "greedy:initial=inf"],
        ["--agent", "ucb:c=inf"],
        ["--c", "inf"],
        ["--nonstationary", "--walk-std", "inf"],
        ["--true-mean", "nan"],
        ["--initial", "-inf"],
        ["--k", "0"],
        ["--runs", "0"],
        ["--steps", "0"],
        ["--epsilon", "1.5"],
        ["--alpha", "0"],
        ["--c", "-1"],
        ["--agent", "bogus"],
    ],
)
def test_bad_inputs_on_the_command_line_are_one_line_with_status_2(args, capsys, tmp_path):
    assert main(["bandit", *args, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rlgen: error: --")
    assert not (tmp_path / "r").exists()  # nothing written for a rejected command


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--agent", "ucb", "--epsilon", "0.1"],
            "--epsilon is for --agent eps-greedy only: --agent ucb would ignore it",
        ),
        (
            ["--agent", "gradient", "--initial", "5"],
            "--initial is for --agent greedy, eps-greedy or ucb: --agent gradient would ignore it",
        ),
        (["--baseline", "False"], "--baseline is for --agent gradient only"),
        (
            ["--agent", "ucb:c=1", "--c", "3"],
            "--c: every agent that takes it fixes its own (--agent ucb:c=1)",
        ),
        (
            ["--agent", "eps-greedy:alpha=0.1", "gradient:alpha=0.2", "--alpha", "0.3"],
            "--alpha: every agent that takes it fixes its own",
        ),
        (["--walk-std", "0.1"], "--walk-std is for --nonstationary only"),
        # typed at its default value, it is still given
        (["--agent", "ucb", "--epsilon", "0", "0.01", "0.1"], "--epsilon is for --agent eps"),
    ],
)
def test_an_option_no_agent_reads_is_refused_before_anything_is_written(
    args, message, capsys, tmp_path
):
    # they were silently dropped: the run compared the agents without them
    assert main(["bandit", *args, "--runs", "2", "--steps", "2", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"rlgen: error: {message}"), err
    assert err[0].endswith("; leave it out")
    assert not (tmp_path / "r").exists()


def test_options_some_agent_reads_are_not_refused(tmp_path):
    def run(name, **kwargs):
        return bandits.run(BanditConfig(runs=2, steps=2, **kwargs), tmp_path / name, quiet=True)

    # ucb takes --c, gradient --baseline; eps-greedy without epsilon= reads --epsilon
    run("a", agent=("ucb", "gradient"), c=(1.0,), baseline=(False,))
    run("b", agent=("eps-greedy:epsilon=0.1", "eps-greedy"), epsilon=(0.2,))
    run("c", nonstationary=True, walk_std=0.1)
    # from Python, a list at its default is no option given, read or not
    run("d", agent=("ucb",))
    with pytest.raises(UserError, match="--c: every agent that takes it fixes its own"):
        run("e", agent=("ucb:c=1",), c=(3.0,))


# --- run directory ---------------------------------------------------------------------------


def test_run_writes_the_run_directory_with_documented_summary_keys(run_dir):
    summary = bandits.run(
        BanditConfig(agent=("eps-greedy", "ucb"), epsilon=(0.1,), runs=20, steps=120),
        run_dir,
        quiet=True,
    )
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk == summary
    assert set(on_disk) == {"k", "runs", "steps", "nonstationary", "seed", "seconds", "agents"}
    keys = (
        {"name", "kind", "params"}
        | {
            f"{m}_{w}{se}"
            for m in ("reward", "optimal")
            for w in ("last", "last_100", "all")
            for se in ("", "_se")
        }
        | {"greedy_is_optimal", "greedy_is_optimal_se"}
    )
    assert keys <= set(on_disk["agents"][0])
    assert {"optimal_when_greedy_optimal", "greedy_optimal_steps"} <= set(on_disk["agents"][0])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["epsilon"] == [0.1] and config["seed"] == 0
    header = (run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == [
        "step",
        "eps-greedy(epsilon=0.1)/reward",
        "eps-greedy(epsilon=0.1)/optimal",
        "ucb(c=2)/reward",
        "ucb(c=2)/optimal",
    ]
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 121
    assert (run_dir / "bandit.png").stat().st_size > 10_000


def test_plot_redraws_the_figure_from_the_run_directory_alone(tmp_path):
    config = BanditConfig(agent=("ucb", "gradient"), runs=5, steps=30)
    with Run("bandit", config, tmp_path / "r", quiet=True) as out:
        bandits.save(out, config, bandits.experiment(config), seconds=0.0, title="A title")
    figure = tmp_path / "r" / "bandit.png"
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["title"] == "A title"
    first = figure.read_bytes()
    figure.unlink()
    assert bandits.plot(tmp_path / "r") == figure
    assert figure.read_bytes() == first  # the same picture, from the files only


def test_describe_prints_one_line_per_agent(run_dir):
    config = BanditConfig(agent=("ucb", "gradient"), runs=3, steps=20)
    summary = bandits.run(config, run_dir, quiet=True)
    lines = bandits.describe(summary).splitlines()
    assert len(lines) == 3 and lines[1].startswith("ucb(c=2)") and "gradient" in lines[2]
