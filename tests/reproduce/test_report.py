"""``rlgen reproduce``: claims.json, report.html (also in a real headless browser), failures."""

from __future__ import annotations

import json
import os
import re
import shutil
import types
from pathlib import Path

import pytest

from rlgen import reproduce
from rlgen.cli import main
from rlgen.errors import UserError
from rlgen.reproduce.claims import Claim

ARTIFACTS = Path(
    os.environ.get("RLGEN_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")
)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    """The bandit section of the quick preset, run once through the command line."""
    out = tmp_path_factory.mktemp("reproduce") / "run"
    assert main(["reproduce", "--sections", "bandits", "--out", str(out), "--quiet"]) == 0
    return out


def test_claims_json_lists_every_claim_with_its_verdict(report_dir):
    claims = json.loads((report_dir / "claims.json").read_text())["claims"]
    ids = [c["id"] for c in claims]
    for required in (
        "bandits.greedy-third",
        "bandits.eps0.1-80",
        "bandits.eps0.1-at-most-91",
        "bandits.eps0.01-asymptote",
        "bandits.eps0.01-slower",
    ):
        assert required in ids
    for c in claims:
        assert set(c) >= {"id", "statement", "measured", "expected", "tolerance", "passed", "how"}
        assert c["tolerance"] >= 0 and c["how"]
    assert all(c["passed"] for c in claims), [c["id"] for c in claims if not c["passed"]]
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["claims"] == len(claims) and summary["passed"] == len(claims)
    assert summary["failed"] == [] and summary["errors"] == []


def test_report_is_self_contained(report_dir):
    html = (report_dir / "report.html").read_text()
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", html)  # nothing fetched
    assert "<script" not in html
    images = re.findall(r"<img [^>]*src='data:image/png;base64,", html)
    assert len(images) >= 6  # Figures 2.2-2.5, the long run and exercise 2.5
    claims = json.loads((report_dir / "claims.json").read_text())["claims"]
    assert html.count("<span class='pass'>PASS</span>") == len(claims)


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
    except ImportError:
        webdriver = None
    missing = [
        n
        for n, v in (("chromium", chromium), ("chromedriver", driver), ("selenium", webdriver))
        if not v
    ]
    if missing:
        message = f"headless browser test needs {', '.join(missing)} (make test installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs them: missing there is a failure, not a skip
        pytest.skip(message)
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-sync",
        "--disable-component-update",
        "--disable-dev-shm-usage",
        "--window-size=1280,2000",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


@pytest.mark.browser
@pytest.mark.slow
def test_report_renders_in_a_headless_browser(report_dir):
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium must not try to download a driver
    browser = _browser()
    try:
        browser.get((report_dir / "report.html").resolve().as_uri())
        assert browser.title.startswith("rlgen reproduce:")
        images = browser.execute_script(
            "return Array.from(document.images)"
            ".map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
        )
        assert len(images) >= 6
        assert all(complete and w > 300 and h > 200 for complete, w, h in images), images
        rows = browser.execute_script(
            "return document.querySelectorAll('#claims-table tbody tr').length"
        )
        claims = json.loads((report_dir / "claims.json").read_text())["claims"]
        assert rows == len(claims)
        verdict = browser.execute_script("return document.getElementById('verdict').innerText")
        assert verdict == f"{len(claims)} of {len(claims)} claims hold"
        width = browser.execute_script("return document.getElementById('claims-table').offsetWidth")
        assert width > 600  # the table is laid out, not collapsed
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "report.png"
        assert browser.save_screenshot(str(shot))
        assert shot.stat().st_size > 50_000
    finally:
        browser.quit()


# --- failures are reported, not hidden -------------------------------------------------------


def _fake_section(monkeypatch, run):
    module = types.ModuleType("rlgen.reproduce.fake")
    module.TITLE = "A fake section"
    module.run = run
    monkeypatch.setitem(__import__("sys").modules, "rlgen.reproduce.fake", module)
    monkeypatch.setitem(reproduce.SECTIONS, "fake", "rlgen.reproduce.fake")


def test_a_failing_claim_and_a_broken_section_are_reported(monkeypatch, tmp_path):
    def run(ctx):
        return [
            Claim(
                "fake.wrong",
                "Two is three.",
                measured=2.0,
                expected=3.0,
                tolerance=0.5,
                how="arithmetic",
            )
        ]

    _fake_section(monkeypatch, run)
    monkeypatch.setitem(reproduce.SECTIONS, "broken", "rlgen.reproduce.broken")
    broken = types.ModuleType("rlgen.reproduce.broken")
    broken.TITLE = "A broken section"
    broken.run = lambda ctx: 1 / 0
    monkeypatch.setitem(__import__("sys").modules, "rlgen.reproduce.broken", broken)

    code = main(
        [
            "reproduce",
            "--sections",
            "fake",
            "broken",
            "--strict",
            "--quiet",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 1
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["failed"] == ["fake.wrong"] and summary["errors"] == ["broken"]
    html = (tmp_path / "r" / "report.html").read_text()
    assert "<span class='fail'>FAIL</span>" in html and "ZeroDivisionError" in html
    assert "0 of 1 claims hold; 1 section(s) failed to run" in html
    # without --strict the same report exits 0
    assert main(["reproduce", "--sections", "fake", "--quiet", "--out", str(tmp_path / "s")]) == 0


def test_unknown_section_is_a_user_error(capsys):
    assert main(["reproduce", "--sections", "bandit"]) == 2
    assert "--sections: unknown section 'bandit'; choose from bandits" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("comparison", "measured", "passed"),
    [
        ("approx", 1.05, True),
        ("approx", 1.2, False),
        ("at_most", 1.09, True),
        ("at_most", 1.2, False),
        ("at_least", 0.91, True),
        ("at_least", 0.8, False),
    ],
)
def test_claim_comparisons(comparison, measured, passed):
    claim = Claim("x.y", "s", measured=measured, expected=1.0, tolerance=0.1, comparison=comparison)
    assert claim.passed is passed


def test_a_non_finite_measurement_never_passes():
    assert not Claim("x.y", "s", measured=float("nan"), expected=1.0, tolerance=10.0).passed


def _section(monkeypatch, key: str, run) -> None:
    """Register a section ``key`` whose ``run(ctx)`` is ``run``."""
    module = types.ModuleType(f"rlgen.reproduce.{key}")
    module.TITLE = f"Section {key}"
    module.run = run
    monkeypatch.setitem(__import__("sys").modules, f"rlgen.reproduce.{key}", module)
    monkeypatch.setitem(reproduce.SECTIONS, key, f"rlgen.reproduce.{key}")


def test_resume_keeps_the_finished_sections_and_reruns_the_others(monkeypatch, tmp_path):
    calls = {"first": 0, "second": 0, "third": 0}

    def first(ctx):
        calls["first"] += 1
        (ctx.dir / "figure.png").write_bytes(b"png")
        ctx.notes.append("a note")
        return [Claim("first.nan", "Never finite.", measured=float("nan"), expected=1.0,
                      tolerance=0.1, details={"runs": [1, 2]}),
                Claim("first.ok", "One is one.", measured=1.0, expected=1.0, tolerance=0.0,
                      comparison="at_least", unit="%", figure="figure.png", how="h")]  # fmt: skip

    def second(ctx):  # breaks the first time, as a run killed in it would leave it
        calls["second"] += 1
        (ctx.dir / "partial.txt").write_text("left by the broken run")
        if calls["second"] == 1:
            raise RuntimeError("killed")
        assert not (ctx.dir / "stale").exists()
        return [Claim("second.ok", "Two is two.", measured=2.0, expected=2.0, tolerance=0.0)]

    def third(ctx):
        calls["third"] += 1
        return [Claim("third.ok", "Three.", measured=3.0, expected=3.0, tolerance=0.0)]

    for key, fn in {"first": first, "second": second, "third": third}.items():
        _section(monkeypatch, key, fn)
    out = tmp_path / "r"
    args = ["reproduce", "--sections", "first", "second", "third", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    before = json.loads((out / "claims.json").read_text())["claims"]
    assert json.loads((out / "summary.json").read_text())["errors"] == ["second"]
    assert (out / "first" / "section.json").is_file()
    assert not (out / "second" / "section.json").exists()
    (out / "second" / "stale").write_text("")

    assert main(["reproduce", "--resume", str(out), "--quiet"]) == 0
    assert calls == {"first": 1, "second": 2, "third": 1}  # only the broken one runs again
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == [] and summary["claims"] == 4
    assert summary["failed"] == ["first.nan"]  # a NaN kept from section.json still fails
    after = json.loads((out / "claims.json").read_text())["claims"]
    assert after[:2] == before[:2]  # the kept claims, field for field
    html = (out / "report.html").read_text()
    assert "a note" in html and "Section first" in html and "Section second" in html
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 4  # header and one row per section, none twice
    config = json.loads((out / "config.json").read_text())
    assert len(config["resumed"]) == 1


def test_resume_refuses_other_options_and_other_directories(monkeypatch, tmp_path, capsys):
    _section(monkeypatch, "first", lambda ctx: [])
    out = tmp_path / "r"
    assert main(["reproduce", "--sections", "first", "--quiet", "--out", str(out)]) == 0
    assert main(["reproduce", "--resume", str(out), "--seed", "3"]) == 2
    assert "leave out --seed" in capsys.readouterr().err
    assert main(["reproduce", "--resume", str(out), "--out", str(tmp_path / "other")]) == 2
    assert "leave out --out" in capsys.readouterr().err
    assert main(["reproduce", "--resume", str(tmp_path / "nothing")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_a_user_error_keeps_the_sections_that_finished_for_resume(monkeypatch, tmp_path, capsys):
    calls = {"first": 0, "second": 0}
    data = tmp_path / "data.txt"

    def first(ctx):  # writes no summary.json (as the mdp section)
        calls["first"] += 1
        return [Claim("first.ok", "One.", measured=1.0, expected=1.0, tolerance=0.0)]

    def second(ctx):  # as the generative section without Fashion-MNIST
        calls["second"] += 1
        if not data.exists():
            raise UserError(f"{data}: no such file")
        return [Claim("second.ok", "Two.", measured=2.0, expected=2.0, tolerance=0.0)]

    _section(monkeypatch, "first", first)
    _section(monkeypatch, "second", second)
    out = tmp_path / "r"
    args = ["reproduce", "--sections", "first", "second", "--quiet"]
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and f"--resume {out}" in err and err.count("\n") == 1
    assert (out / "first" / "section.json").is_file()
    data.write_text("")
    assert main(["reproduce", "--resume", str(out), "--quiet"]) == 0
    assert calls == {"first": 1, "second": 2}
    assert json.loads((out / "summary.json").read_text())["passed"] == 2

    # nothing finished before the error: no directory is left, as before
    data.unlink()
    assert main(["reproduce", "--sections", "second", "--quiet", "--out", str(tmp_path / "t")]) == 2
    assert not (tmp_path / "t").exists()


CORRUPTIONS = {
    "no seconds (an older version)": lambda s: {k: v for k, v in s.items() if k != "seconds"},
    "no title": lambda s: {k: v for k, v in s.items() if k != "title"},
    "a claim without comparison": lambda s: (
        s | {"claims": [{k: v for k, v in s["claims"][0].items() if k != "comparison"}]}
    ),
    "an unknown comparison": lambda s: s | {"claims": [s["claims"][0] | {"comparison": "about"}]},
    "details not a mapping": lambda s: s | {"claims": [s["claims"][0] | {"details": [1]}]},
    "notes not text": lambda s: s | {"notes": [1]},
    "figures not a list": lambda s: s | {"figures": "a.png"},
    "not an object": lambda s: [s],
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_resume_reruns_a_section_whose_section_json_it_cannot_use(monkeypatch, tmp_path, corrupt):
    calls = []

    def first(ctx):
        calls.append(1)
        ctx.notes.append("a note")
        return [Claim("first.ok", "One.", measured=1.0, expected=1.0, tolerance=0.0)]

    _section(monkeypatch, "first", first)
    out = tmp_path / "r"
    assert main(["reproduce", "--sections", "first", "--quiet", "--out", str(out)]) == 0
    path = out / "first" / "section.json"
    path.write_text(json.dumps(corrupt(json.loads(path.read_text()))))
    assert main(["reproduce", "--resume", str(out), "--quiet"]) == 0
    assert len(calls) == 2
    assert json.loads((out / "summary.json").read_text())["passed"] == 1
    assert json.loads(path.read_text())["seconds"] >= 0  # written again, whole


def test_non_finite_and_numpy_values_survive_a_resume(monkeypatch, tmp_path):
    import numpy as np

    def first(ctx):
        return [
            Claim("first.inf", "Unbounded.", measured=float("inf"), expected=1.0, tolerance=0.1),
            Claim("first.any", "Anything goes.", measured=np.float32(0.5), expected=np.float64(1),
                  tolerance=float("inf"), details={"pair": (np.float32(0.25), float("-inf"))}),
        ]  # fmt: skip

    _section(monkeypatch, "first", first)
    out = tmp_path / "r"
    assert main(["reproduce", "--sections", "first", "--quiet", "--out", str(out)]) == 0

    def files():
        started = re.compile(r"started [0-9: -]+")
        html = started.sub("", (out / "report.html").read_text())
        summary = json.loads((out / "summary.json").read_text())
        return (out / "claims.json").read_text(), html, summary["passed"], summary["failed"]

    before = files()
    assert before[2:] == (1, ["first.inf"])
    assert main(["reproduce", "--resume", str(out), "--quiet"]) == 0
    assert files() == before


def test_resume_keeps_the_strict_exit_status(monkeypatch, tmp_path, capsys):
    _section(monkeypatch, "first", lambda ctx: [Claim("f.no", "No.", 0.0, 1.0, 0.0)])
    out = tmp_path / "r"
    assert main(["reproduce", "--sections", "first", "--strict", "--quiet", "--out", str(out)]) == 1
    (out / "first" / "section.json").unlink()
    assert main(["reproduce", "--resume", str(out), "--quiet"]) == 1  # as the run it finishes
    lax = tmp_path / "lax"
    assert main(["reproduce", "--sections", "first", "--quiet", "--out", str(lax)]) == 0
    assert main(["reproduce", "--resume", str(lax), "--quiet"]) == 0
    assert main(["reproduce", "--resume", str(lax), "--strict", "--quiet"]) == 1
    assert json.loads((lax / "config.json").read_text())["config"]["strict"] is False
    capsys.readouterr()
    for option in (["--sections", "first"], ["--preset", "full"]):
        assert main(["reproduce", "--resume", str(lax), *option]) == 2
        assert f"leave out {option[0]}" in capsys.readouterr().err


def test_a_resumable_section_gets_its_directory_back_and_others_start_clean(monkeypatch, tmp_path):
    seen: dict[str, list] = {"long": [], "short": []}

    def section_run(key):
        def run(ctx):
            seen[key].append((ctx.resume, sorted(p.name for p in ctx.dir.iterdir())))
            (ctx.dir / f"partial-{len(seen[key])}").write_text("")
            if len(seen[key]) == 1:
                raise RuntimeError("killed")
            return []

        return run

    for key in seen:
        _section(monkeypatch, key, section_run(key))
    monkeypatch.setattr(
        __import__("sys").modules["rlgen.reproduce.long"], "RESUMABLE", True, raising=False
    )
    out = tmp_path / "r"
    assert main(["reproduce", "--sections", "long", "short", "--quiet", "--out", str(out)]) == 0
    assert main(["reproduce", "--resume", str(out), "--quiet"]) == 0
    assert seen["long"] == [(False, []), (True, ["partial-1"])]  # continues from what it left
    assert seen["short"] == [(False, []), (False, [])]  # starts again, clean


def test_options_typed_for_the_report_are_not_typed_for_the_runs_of_its_sections(tmp_path):
    # `--seed` belongs to the report; the mdp section's `mdp solve --example gridworld-3.5`,
    # which refuses a --seed typed for it, must not see it as its own
    out = tmp_path / "r"
    assert (
        main(["reproduce", "--sections", "mdp", "--seed", "0", "--quiet", "--out", str(out)]) == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == [] and summary["failed"] == []
