"""The finite-MDP section of the report: one function per claim (or shared experiment), each
returning the claims it names, and the whole section through ``rlgen reproduce``."""

from __future__ import annotations

import json

import pytest

from rlgen.reproduce import mdp as section
from rlgen.reproduce.claims import SECTIONS, Context

CLAIM_IDS = [
    "mdp.figure-3.2",
    "mdp.figure-3.5",
    "mdp.figure-3.5-policy",
    "mdp.figure-4.1-sweeps",
    "mdp.figure-4.1-limit",
    "mdp.vi-equals-pi",
    "mdp.vi-pi-same-actions",
    "mdp.optimal-policy-not-unique",
    "mdp.v-star-unique",
    "mdp.pg-theorem-cosine",
    "mdp.pg-theorem-ratio",
    "mdp.baseline-exact",
    "mdp.reinforce-unbiased",
    "mdp.baseline-variance",
    "mdp.on-policy-distribution",
]


def test_section_is_registered():
    assert SECTIONS["mdp"] == "rlgen.reproduce.mdp"


@pytest.fixture
def ctx(tmp_path):
    return Context(preset="quick", seed=0, dir=tmp_path)


@pytest.mark.parametrize(
    ("claim", "ids", "files"),
    [
        (section.figure_3_2_random_policy_values, ["mdp.figure-3.2"], ["figure-3.2.png"]),
        (
            section.figure_3_5_optimal_values_and_arrows,
            ["mdp.figure-3.5", "mdp.figure-3.5-policy"],
            ["figure-3.5.png"],
        ),
        (
            section.figure_4_1_sweeps_and_limit,
            ["mdp.figure-4.1-sweeps", "mdp.figure-4.1-limit"],
            ["figure-4.1.png", "figure-4.1-sweeps.png"],
        ),
        (
            section.value_and_policy_iteration_agree,
            ["mdp.vi-equals-pi", "mdp.vi-pi-same-actions"],
            [],
        ),
        (
            section.optimal_policy_not_unique_but_v_star_is,
            ["mdp.optimal-policy-not-unique", "mdp.v-star-unique"],
            [],
        ),
        (
            section.policy_gradient_theorem_holds,
            ["mdp.pg-theorem-cosine", "mdp.pg-theorem-ratio", "mdp.baseline-exact"],
            [],
        ),
        (section.on_policy_distribution_matches_sampled_visits, ["mdp.on-policy-distribution"], []),
    ],
    ids=lambda x: getattr(x, "__name__", None),
)
def test_each_claim_function_checks_what_it_is_named_for(ctx, claim, ids, files):
    result = claim(ctx)
    claims = result if isinstance(result, list) else [result]
    assert [c.id for c in claims] == ids
    assert all(c.passed for c in claims), [(c.id, c.measured) for c in claims if not c.passed]
    for name in files:
        assert (ctx.dir / name).is_file(), name


def test_figure_3_5_counts_the_cells_whose_arrows_differ(ctx, monkeypatch):
    # the claim fails when one cell's arrows are not the book's
    book = [row[:] for row in section.FIGURE_3_5_POLICY]
    book[4][4] = "down"
    monkeypatch.setattr(section, "FIGURE_3_5_POLICY", book)
    _, policy = section.figure_3_5_optimal_values_and_arrows(ctx)
    assert policy.measured == 1.0 and not policy.passed


@pytest.mark.slow
def test_reproduce_mdp_section_quick(tmp_path):
    from rlgen.reproduce import ReproduceConfig
    from rlgen.reproduce import run as reproduce

    summary = reproduce(ReproduceConfig(sections=("mdp",)), tmp_path / "rep", quiet=True)
    assert summary["errors"] == []
    assert summary["failed"] == []
    claims = json.loads((tmp_path / "rep" / "claims.json").read_text())["claims"]
    assert [c["id"] for c in claims] == CLAIM_IDS  # the report's order
    assert all(c["how"] for c in claims)
    for c in claims:
        if c["figure"]:
            assert (tmp_path / "rep" / "mdp" / c["figure"]).is_file(), c["figure"]
