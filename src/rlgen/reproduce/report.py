"""The self-contained HTML report: figures embedded as data URIs, no scripts, no server needed."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from rlgen.files import atomic_write_bytes, to_jsonable
from rlgen.reproduce.claims import Claim
from rlgen.runs import package_version

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d2430;line-height:1.45}
h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #d8dde6;padding-bottom:.2em}
.meta{color:#5b6577;font-size:.9em}
.banner{padding:.7em 1em;border-radius:6px;font-weight:600;margin:1em 0}
.ok{background:#e6f4ea;color:#17662c}.bad{background:#fdecea;color:#9b1c1c}
table{border-collapse:collapse;width:100%;font-size:.92em;margin:.8em 0}
th,td{border:1px solid #d8dde6;padding:.4em .55em;vertical-align:top;text-align:left}
th{background:#f3f5f9}td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.pass{color:#17662c;font-weight:700}.fail{color:#9b1c1c;font-weight:700}
.how{color:#5b6577;font-size:.88em}code{font-size:.9em}
figure{margin:1em 0;text-align:center}figure img{max-width:100%;border:1px solid #eef0f4}
figcaption{color:#5b6577;font-size:.88em}pre{background:#f6f7f9;padding:.8em;overflow-x:auto}
"""


def write_report(path: Path, sections: list[dict[str, Any]], *, config: Any, started: str) -> None:
    """Write ``report.html``: a verdict banner, the claims table, then each section's figures."""
    claims: list[Claim] = [c for s in sections for c in s["claims"]]
    passed = sum(c.passed for c in claims)
    errors = [s for s in sections if s["error"]]
    ok = passed == len(claims) and not errors
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>rlgen reproduce: {passed}/{len(claims)} claims</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>rlgen: the lecture's claims, rerun</h1>",
        f"<p class='meta'>rlgen {html.escape(package_version())}"
        f" · preset <b>{html.escape(config.preset)}</b>"
        f" · seed {config.seed} · started {html.escape(started)}</p>",
        f"<div class='banner {'ok' if ok else 'bad'}' id='verdict'>"
        f"{passed} of {len(claims)} claims hold"
        + (f"; {len(errors)} section(s) failed to run" if errors else "")
        + "</div>",
        "<h2 id='claims'>Claims</h2>",
        _claims_table(claims),
    ]
    for s in sections:
        parts.append(f"<h2 id='{html.escape(s['name'])}'>{html.escape(s['title'])}</h2>")
        parts += [f"<p>{html.escape(note)}</p>" for note in s["notes"]]
        if s["error"]:
            parts.append(
                "<p class='fail'>This section failed to run:</p>"
                f"<pre>{html.escape(s['error'])}</pre>"
            )
        directory = path.parent / s["dir"]
        shown: list[str] = []
        # the figures behind the claims, in claim order, then the section's other figures
        for name in [*(c.figure for c in s["claims"] if c.figure), *s["figures"]]:
            if name and name not in shown:
                shown.append(name)
        for name in shown:
            parts.append(_figure(directory, name, [c.id for c in s["claims"] if c.figure == name]))
    parts.append(
        "<h2 id='config'>Configuration</h2><pre>"
        + html.escape(str(to_jsonable(config)))
        + "</pre></body></html>"
    )
    atomic_write_bytes(path, "\n".join(parts).encode())


def _claims_table(claims: list[Claim]) -> str:
    rows = [
        "<table id='claims-table'><thead><tr><th>claim</th><th>the lecture says</th>"
        "<th>measured</th>"
        "<th>expected</th><th>verdict</th><th>how it was measured</th></tr></thead><tbody>"
    ]
    for c in claims:
        verdict = "<span class='pass'>PASS</span>" if c.passed else "<span class='fail'>FAIL</span>"
        rows.append(
            f"<tr id='{html.escape(c.id)}'><td><code>{html.escape(c.id)}</code></td>"
            f"<td>{html.escape(c.statement)}</td>"
            f"<td class='num'>{html.escape(c.show(c.measured))}</td>"
            f"<td class='num'>{html.escape(c.target)}</td><td>{verdict}</td>"
            f"<td class='how'>{html.escape(c.how)}</td></tr>"
        )
    rows.append("</tbody></table>")
    return "".join(rows)


def _figure(directory: Path, name: str, claim_ids: list[str]) -> str:
    """One embedded figure; ``name`` is its path in the section directory (the caption)."""
    png = directory / name
    if not png.is_file():
        return f"<p class='fail'>missing figure {html.escape(name)}</p>"
    data = base64.b64encode(png.read_bytes()).decode()
    caption = name.removesuffix(".png")
    if claim_ids:
        caption += " — supports " + ", ".join(claim_ids)
    return (
        f"<figure><img alt='{html.escape(png.stem)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )
