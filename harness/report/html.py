"""The HTML projection of a run record: one self-contained page an auditor can open anywhere.

It is computed from the record alone (never from pytest), so a record from a bench, archived or
merged later, renders the same. Layout: what was tested (target, SDK versions, Python, seeds),
the verdict counts, then requirement by requirement (grouped by source document, with the checks
that speak about each and their status), then every check with its message, finding and
evidence links (relative paths, so the report folder can be zipped and sent as is).
No script, no external resource: the page must render offline and in a mail client.
"""

from __future__ import annotations

from collections import Counter
from html import escape
from pathlib import Path

from hil.report.atomic_file import write_atomically
from hil.report.record import CheckRecord, MergedRuns, RunRecord, coverage

__all__ = ["render_html", "render_merged_html", "write_html"]

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1b1f24;max-width:1200px}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:2rem 0 .5rem}h3{font-size:1rem;margin:1.2rem 0 .3rem}
table{border-collapse:collapse;width:100%;margin:.3rem 0}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}code{font-size:12px;white-space:nowrap}a code,.wrap{white-space:normal;overflow-wrap:anywhere}
.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:12px;font-weight:600;white-space:nowrap}
.passed,.covered-passing{background:#dafbe1;color:#116329}.failed,.error,.xpassed,.failing{background:#ffebe9;color:#a40e26}
.xfailed,.finding{background:#fff8c5;color:#7d4e00}.skipped,.not-checked{background:#eaeef2;color:#57606a}
.fixed{background:#ddf4ff;color:#0550ae}.not-applicable,.not-installable{background:#f6f8fa;color:#57606a;border:1px dashed #8c959f}
.meta td:first-child{width:14rem;color:#57606a}.msg{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px}
"""


def _badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(status)}</span>'


def _check_row(check: CheckRecord) -> str:
    finding = ""
    if check.finding is not None:
        finding = (
            f"<br><b>finding</b> {escape(check.finding.requirement)} in <code>{escape(check.finding.sdk)}</code>: "
            f"{escape(check.finding.reason)}"
        )
    evidence = "<br>".join(
        f'<a href="{escape(item.path)}">{escape(item.description or item.path)}</a>' for item in check.evidence
    )
    return (
        f"<tr id=\"{escape(check.id)}\"><td>{_badge(check.outcome)}</td><td><code class=\"wrap\">{escape(check.id)}</code>"
        f"{finding}</td><td>{', '.join(escape(r) for r in check.requirement_ids)}</td>"
        f"<td>{check.duration_s:.2f}s</td><td class=\"msg\">{escape(check.message)}</td><td>{evidence}</td></tr>"
    )


def render_html(record: RunRecord) -> str:
    """The page for one run record."""
    outcomes = Counter(check.outcome for check in record.checks)
    items = coverage(record)
    statuses = Counter(item.status for item in items)
    sdks = ", ".join(f"{sdk.name} {sdk.version}" for sdk in record.sdks) or "none"
    seeds = ", ".join(f"{name}={value}" for name, value in sorted(record.seeds.items())) or "none"
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>hil conformance report: {escape(record.target.name)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Conformance report: target {escape(record.target.name)}</h1>",
        '<table class="meta">',
        f"<tr><td>target</td><td>{escape(record.target.name)} ({escape(record.target.kind)}) "
        f"{escape(record.target.description)}</td></tr>",
        f"<tr><td>SDKs under test</td><td>{escape(sdks)}</td></tr>",
        f"<tr><td>Python</td><td>{escape(record.python.version)} ({escape(record.python.implementation)})</td></tr>",
        f"<tr><td>run</td><td>{escape(record.run_id)}, {escape(record.started_at)} to {escape(record.finished_at)}, "
        f"hil {escape(record.hil_version)}, record schema {escape(record.schema_version)}</td></tr>",
        f"<tr><td>seeds</td><td>{escape(seeds)}</td></tr>",
        "<tr><td>checks</td><td>"
        + " ".join(f"{_badge(name)} {count}" for name, count in sorted(outcomes.items()))
        + "</td></tr>",
        "<tr><td>requirements</td><td>"
        + " ".join(f"{_badge(name)} {count}" for name, count in sorted(statuses.items()))
        + "</td></tr></table>",
        "<h2>Requirements</h2>",
    ]
    by_source: dict[str, list[str]] = {}
    for item in items:
        requirement = item.requirement
        links = ", ".join(f'<a href="#{escape(cid)}"><code>{escape(cid.rsplit("::", 1)[-1])}</code></a>' for cid in item.check_ids)
        by_source.setdefault(requirement.source, []).append(
            f"<tr><td>{_badge(item.status)}</td><td><code>{escape(requirement.id)}</code></td>"
            f"<td>{escape(requirement.level)}</td><td>{escape(requirement.title)}</td><td>{links}</td></tr>"
        )
    for source, rows in sorted(by_source.items()):
        parts.append(f"<h3>{escape(source)}</h3><table><tr><th>status</th><th>id</th><th>level</th>"
                     "<th>requirement</th><th>checks</th></tr>" + "".join(rows) + "</table>")
    parts.append("<h2>Checks</h2><table><tr><th>outcome</th><th>check</th><th>requirements</th><th>time</th>"
                 "<th>message</th><th>evidence</th></tr>")
    parts += [_check_row(check) for check in record.checks]
    parts.append("</table></body></html>\n")
    return "".join(parts)


def write_html(record: RunRecord, path: Path) -> None:
    write_atomically(path, render_html(record).encode())


def render_merged_html(merged: MergedRuns) -> str:
    """The coverage matrix of several runs: one row per requirement, one column per target and
    SDK version set, so an auditor sees at a glance where a requirement holds and where not."""
    keys = merged.keys
    matrix = merged.coverage()
    header = "".join(f"<th>{escape(key.label)}</th>" for key in keys)
    rows = []
    for requirement in merged.requirements:
        cells = "".join(f"<td>{_badge(matrix[requirement.id].get(key, 'not-checked'))}</td>" for key in keys)
        rows.append(
            f"<tr><td><code>{escape(requirement.id)}</code></td><td>{escape(requirement.level)}</td>"
            f"<td>{escape(requirement.title)}</td>{cells}</tr>"
        )
    runs = sum(len(records) for records in merged.runs.values())
    uninstallable = "".join(
        f"<li>{escape(key.label)}: {_badge('not-installable')} {escape(reason)}</li>"
        for key in keys if (reason := merged.not_installable(key)) is not None
    )
    changes = merged.changes()
    changed_rows = "".join(
        f"<tr><td><code>{escape(requirement_id)}</code></td>"
        + "".join(f"<td>{_badge(row.get(key, 'not-checked'))}</td>" for key in keys)
        + "</tr>"
        for requirement_id, row in changes.items()
    )
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>hil conformance matrix</title><style>{_STYLE}</style></head><body>"
        f"<h1>Conformance matrix</h1><p>{runs} run(s), {len(keys)} target/SDK combination(s).</p>"
        + (f"<h2>SDK sets that cannot be installed</h2><ul>{uninstallable}</ul>" if uninstallable else "")
        + f"<h2>What changed between versions</h2><p>{len(changes)} requirement(s) differ.</p>"
        + (f"<table><tr><th>id</th>{header}</tr>{changed_rows}</table>" if changes else "")
        + "<h2>All requirements</h2>"
        f"<table><tr><th>id</th><th>level</th><th>requirement</th>{header}</tr>{''.join(rows)}</table>"
        "</body></html>\n"
    )
