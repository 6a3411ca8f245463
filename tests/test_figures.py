"""Figure helpers: the backend, saving, means with intervals, curves on a grid."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rlgen.figures import mean_interval, pyplot, save_figure, step_curves


def test_a_backend_the_user_chose_is_left_alone():
    # A notebook or script that already uses pyplot keeps its backend (Agg would stop its own
    # figures from showing); rlgen alone gets Agg.
    code = (
        "import matplotlib; matplotlib.use('svg'); import matplotlib.pyplot\n"
        "from rlgen.figures import pyplot; pyplot(); print(matplotlib.get_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg"
    code = (
        "import matplotlib\n"
        "from rlgen.figures import pyplot; pyplot(); print(matplotlib.get_backend())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().lower() == "agg"


def test_save_figure_writes_a_png_and_closes_the_figure_even_when_drawing_fails(tmp_path):
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = save_figure(fig, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.number not in plt.get_fignums()

    fig, ax = plt.subplots()

    def broken(*args, **kwargs):
        raise RuntimeError("cannot draw")

    fig.savefig = broken
    with pytest.raises(RuntimeError, match="cannot draw"):
        save_figure(fig, tmp_path / "g.png")
    assert fig.number not in plt.get_fignums()
    assert not (tmp_path / "g.png").exists()


def test_mean_interval_ignores_missing_values_and_needs_two_per_column():
    values = np.array([[1.0, np.nan, 4.0], [3.0, 2.0, 4.0]])
    mean, half = mean_interval(values)
    np.testing.assert_allclose(mean, [2.0, 2.0, 4.0])
    assert half[0] == pytest.approx(12.7062047 * 1.0)  # t(0.975, 1) * sd 1.414 / sqrt 2
    assert np.isnan(half[1]) and half[2] == 0.0


def test_step_curves_carry_each_value_until_the_next():
    grid = np.arange(6)
    runs = [(np.array([1, 3]), np.array([10.0, 30.0])), (np.array([2]), np.array([np.nan]))]
    out = step_curves(runs, grid)
    np.testing.assert_array_equal(out[0], [np.nan, 10, 10, 30, 30, 30])
    assert np.isnan(out[1]).all()
