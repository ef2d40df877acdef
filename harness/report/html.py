"""The HTML projection of a run record: one self-contained page an auditor can open anywhere.

It is computed from the record alone (never from pytest), so a record from a bench, archived or
merged later, renders the same. The page answers the auditor's questions in the order they are
asked:

1. **Verdict**: per SDK and version, how many of its requirements were met, deviate (findings),
   failed, were skipped (and why) or are not covered by any check, by severity (MUST/SHOULD/MAY).
2. **Findings**, then **failures**: requirement and its source, what the SDK did against what the
   specification says, severity, SDK version, the one command that reproduces it, the evidence
   (each file with its SHA-256).
3. **SDK requirements** (judged by conformance checks) and, apart, **simulator fidelity** (hil's
   own tests of its simulators), requirement by requirement.
4. Every check, then the **provenance** (versions, commit, spec revision, bench hash, seeds, the
   record's SHA-256).

Filtering works without JavaScript: the requirements are grouped per SDK (one section each, with an
anchor), and indexes per state and per transport link to the rows. A small inline script adds
select boxes that hide rows; the page does not need it. No external resource: it renders offline
and in a mail client; every control is a link, a summary or a select, so a keyboard reaches all.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Final

from hil.report.atomic_file import write_atomically
from hil.report.record import (
    CheckRecord,
    MergedRuns,
    RequirementCoverage,
    RunRecord,
    SdkVersion,
    _coverage_of,
)

__all__ = ["render_html", "render_merged_html", "sdk_of_requirement", "transport_of_requirement", "write_html"]

#: Which SDK a requirement speaks about, by the first word of its id. A user's own catalog whose
#: first word names none of these is reported under its own word.
_SDK_OF_PREFIX: Final = {"ASTARTE": "astarte-device-sdk", "DESTINY": "destiny-sdk", "LOCKNALERT": "aiolocknalert"}
#: The transport a requirement is exercised over, by the second word of its id.
_TRANSPORT_OF_WORD: Final = {
    "MQTT": "mqtt", "PAYLOAD": "mqtt", "QOS": "mqtt", "MSGHUB": "grpc", "PAIRING": "https",
    "APPENGINE": "https", "ROBOT": "https", "API": "https", "EMU": "https", "IFACE": "offline",
}

#: Requirement states as the auditor reads them (coverage status -> label), worst first.
_STATE_LABEL: Final = {
    "failing": "failed", "finding": "finding", "skipped": "skipped", "not-checked": "not covered",
    "covered-passing": "passed",
}
_STATES: Final = tuple(_STATE_LABEL.values())
_LEVELS: Final = ("MUST", "SHOULD", "MAY")

_STYLE = """
:root{--line:#d0d7de;--muted:#57606a}
[id]{scroll-margin-top:3rem}
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24}
main{padding:1rem 2rem 3rem;max-width:1400px}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid var(--line)}
h3{font-size:1rem;margin:1.2rem 0 .3rem}
a{color:#0550ae}a:focus,summary:focus,select:focus{outline:3px solid #fb8f44;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.3rem;background:#fff;padding:.3rem;z-index:10}
nav.top{position:sticky;top:0;background:#f6f8fa;border-bottom:1px solid var(--line);padding:.4rem 2rem;z-index:20}
nav.top a{margin-right:1rem}
table{border-collapse:collapse;margin:.3rem 0}th,td{border:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.scroll{overflow:auto;max-height:80vh;border:1px solid var(--line)}
.scroll table{margin:0}.scroll thead th{position:sticky;top:0;z-index:2}
.scroll th.rowhead,.scroll td.rowhead{position:sticky;left:0;background:#fff;z-index:1}
.scroll thead th.rowhead{z-index:3;background:#f6f8fa}
code,.mono{font-family:ui-monospace,monospace;font-size:12px}.wrap{overflow-wrap:anywhere}
.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:12px;font-weight:600;white-space:nowrap}
.passed,.covered-passing{background:#dafbe1;color:#116329}
.failed,.error,.xpassed,.failing{background:#ffebe9;color:#a40e26}
.finding,.xfailed{background:#fff8c5;color:#7d4e00}
.skipped{background:#ddf4ff;color:#0a3069}.fixed{background:#ddf4ff;color:#0550ae}
.not-applicable,.not-installable{background:#f6f8fa;color:#57606a;border:1px dashed #8c959f}.not-covered,.not-checked{background:#eaeef2;color:#57606a}
.conforms{color:#116329;font-weight:600}.deviates{color:#a40e26;font-weight:600}
.finding-card{border:1px solid var(--line);border-left:6px solid #d4a72c;padding:.5rem 1rem;margin:.8rem 0}
.failure-card{border-left-color:#cf222e}
.finding-card dl{display:grid;grid-template-columns:12rem 1fr;gap:.2rem .8rem;margin:.4rem 0}
.finding-card dt{color:var(--muted)}.finding-card dd{margin:0}
.cmd{background:#f6f8fa;padding:.1rem .3rem;border:1px solid var(--line);user-select:all}
.meta td:first-child{width:14rem;color:var(--muted)}.msg{white-space:pre-wrap}
.index a{margin-right:.4rem}td.checks{min-width:20rem}td.title{min-width:14rem;max-width:26rem}td.source{max-width:14rem}.filters{margin:.5rem 0}.filters label{margin-right:1rem}
"""

_SCRIPT = """
(function(){
 var f=document.getElementById('filters');if(!f)return;f.hidden=false;
 function apply(){var v={};f.querySelectorAll('select').forEach(function(s){v[s.name]=s.value;});
  document.querySelectorAll('tr[data-state]').forEach(function(r){
   var show=Object.keys(v).every(function(k){return !v[k]||(r.dataset[k]||'').split(' ').indexOf(v[k])>=0;});
   r.hidden=!show;});}
 f.addEventListener('change',apply);
})();
"""


def sdk_of_requirement(requirement_id: str) -> str:
    """The SDK a requirement is about (``astarte-device-sdk``...), or its id's first word."""
    word = requirement_id.split("-", 1)[0]
    return _SDK_OF_PREFIX.get(word, word.lower())


def transport_of_requirement(requirement_id: str) -> str:
    """The transport a requirement is exercised over (``mqtt``, ``grpc``, ``https``, ``offline``)."""
    words = requirement_id.split("-")
    return _TRANSPORT_OF_WORD.get(words[1] if len(words) > 2 else "", "other")


def _anchor(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", part) for part in parts)


def _check_anchor(check_id: str) -> str:
    return _anchor("check", check_id)


def _badge(state: str) -> str:
    css = state.replace(" ", "-")
    return f'<span class="badge {escape(css)}">{escape(state)}</span>'


def _sdk_label(sdk: str, sdks: Sequence[SdkVersion]) -> str:
    versions = [s.version for s in sdks if s.name == sdk]
    return f"{sdk} {versions[0]}" if versions else sdk


def _evidence_links(check: CheckRecord) -> str:
    if not check.evidence:
        return "<span class=\"mono\">none recorded</span>"
    items = []
    for item in check.evidence:
        digest = f' <span class="mono" title="SHA-256">sha256 {escape(item.sha256[:16])}…</span>' if item.sha256 else ""
        items.append(f'<li><a href="{escape(item.path)}">{escape(item.description or item.path)}</a> '
                     f'<span class="mono">({escape(item.kind)})</span>{digest}</li>')
    return "<ul>" + "".join(items) + "</ul>"


def _skip_reasons(checks: Iterable[CheckRecord]) -> str:
    kinds = sorted({c.skip_kind or "other" for c in checks if c.outcome == "skipped"})
    return f" ({', '.join(kinds)})" if kinds else ""


class _Page:
    """The parts of one run's page, built from the record once."""

    def __init__(self, record: RunRecord, record_sha256: str | None) -> None:
        self.record = record
        self.record_sha256 = record_sha256
        self.checks = {c.id: c for c in record.checks}
        self.sdk_checks = [c for c in record.checks if c.kind == "sdk"]
        self.sim_checks = [c for c in record.checks if c.kind == "simulator"]
        self.sdk_coverage = _coverage_of(record.requirements, self.sdk_checks)
        self.sim_coverage = _coverage_of(record.requirements, self.sim_checks)
        named_by_sim = {rid for c in self.sim_checks for rid in c.covered_ids}
        named_by_sdk = {rid for c in self.sdk_checks for rid in c.covered_ids}
        # SDK section: what SDK checks judge, plus what no check at all names (not covered).
        self.sdk_rows = [i for i in self.sdk_coverage
                         if i.requirement.id in named_by_sdk or i.requirement.id not in named_by_sim]
        self.sim_rows = [i for i in self.sim_coverage if i.requirement.id in named_by_sim]

    # -- sections ------------------------------------------------------------------------
    def verdict(self) -> str:
        per_sdk: dict[str, list[RequirementCoverage]] = defaultdict(list)
        for item in self.sdk_rows:
            per_sdk[sdk_of_requirement(item.requirement.id)].append(item)
        head = "".join(f"<th>{escape(s)}</th>" for s in ("requirements met", "findings", "failed",
                                                          "skipped", "not covered"))
        rows = []
        for sdk in sorted(per_sdk):
            items = per_sdk[sdk]
            cells = []
            for state in ("passed", "finding", "failed", "skipped", "not covered"):
                chosen = [i for i in items if _state(i.status) == state]
                by_level = Counter(i.requirement.level for i in chosen)
                detail = ", ".join(f"{level} {by_level[level]}" for level in _LEVELS if by_level[level])
                link = f'<a href="#state-{_anchor(state)}">{len(chosen)}</a>' if chosen else "0"
                cells.append(f"<td>{link}<br><span class=\"mono\">{escape(detail)}</span></td>")
            must = Counter(i.status for i in items if i.requirement.level == "MUST")
            if must["failing"] or must["finding"]:
                word = (f'<span class="deviates">does not conform: {must["finding"]} finding(s), '
                        f'{must["failing"]} failure(s) on MUST requirements</span>')
            else:
                word = '<span class="conforms">conforms to every MUST requirement checked</span>'
            word += f'<br><span class="mono">{len(items)} requirement(s) in play</span>'

            rows.append(f'<tr><th scope="row"><a href="#sdk-{_anchor(sdk)}">{escape(_sdk_label(sdk, self.record.sdks))}</a>'
                        f"</th><td>{word}</td>{''.join(cells)}</tr>")
        return ('<section id="verdict" aria-labelledby="verdict-h"><h2 id="verdict-h">Verdict per SDK</h2>'
                "<p>Counts are requirements (not checks), judged by the SDK conformance checks of this run; "
                "each is split by severity (RFC 2119 level).</p>"
                f"<table><thead><tr><th>SDK and version</th><th>verdict</th>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table></section>")

    def _card(self, check: CheckRecord, *, failure: bool) -> str:
        record = self.record
        requirement_id = check.finding.requirement if check.finding else (check.requirement_ids or ("",))[0]
        requirement = next((r for r in record.requirements if r.id == requirement_id), None)
        others = [r for r in check.requirement_ids if r != requirement_id]
        if requirement is not None:
            spec = (f"<b>{escape(requirement.level)}</b>: {escape(requirement.title)}")
            source = (f"{escape(requirement.source)}, section {escape(requirement.section or '?')}"
                      + (f" (<code class=\"wrap\">{escape(requirement.document)}</code>)" if requirement.document else ""))
            severity: str = requirement.level
        else:
            spec, source, severity = "no requirement named", "", "unknown"
        if check.finding is not None:
            did = escape(check.finding.reason) + (f"<br><span class=\"mono\">{escape(check.message)}</span>" if check.message else "")
            sdk = check.finding.sdk or ", ".join(str(s) for s in record.sdks)
            title = f"Finding {requirement_id}"
        else:
            did = f"<span class=\"mono msg\">{escape(check.message or check.outcome)}</span>"
            sdk = ", ".join(str(s) for s in record.sdks if s.name == sdk_of_requirement(requirement_id)) or "all SDKs of the run"
            title = f"{'Failure' if check.outcome != 'xpassed' else 'Stale finding'} {requirement_id}".strip()
        also = f"<dt>also checks</dt><dd>{escape(', '.join(others))}</dd>" if others else ""
        return (f'<article class="finding-card{" failure-card" if failure else ""}" id="{_anchor("case", check.id)}">'
                f"<h3>{_badge(_outcome_state(check.outcome))} {escape(title)}</h3><dl>"
                f"<dt>requirement</dt><dd><code>{escape(requirement_id)}</code>; {source}</dd>"
                f"<dt>the specification says</dt><dd>{spec}</dd>"
                f"<dt>the SDK did</dt><dd>{did}</dd>"
                f"<dt>severity</dt><dd>{escape(severity)}</dd>"
                f"<dt>SDK version</dt><dd><code>{escape(sdk)}</code></dd>"
                f"<dt>reproduce</dt><dd><code class=\"cmd wrap\">{escape(check.reproduce)}</code></dd>"
                f"<dt>check</dt><dd><a href=\"#{_check_anchor(check.id)}\"><code class=\"wrap\">{escape(check.id)}</code></a></dd>"
                f"{also}<dt>evidence</dt><dd>{_evidence_links(check)}</dd></dl></article>")

    def findings(self) -> str:
        found = [c for c in self.record.checks if c.outcome == "xfailed" and c.finding is not None]
        body = "".join(self._card(c, failure=False) for c in found) or "<p>No finding: no check reproduced a recorded SDK deviation.</p>"
        return f'<section id="findings"><h2>Findings ({len(found)})</h2>{body}</section>'

    def failures(self) -> str:
        failed = [c for c in self.record.checks if c.outcome in ("failed", "error", "xpassed")]
        body = "".join(self._card(c, failure=True) for c in failed) or "<p>No check failed.</p>"
        return f'<section id="failures"><h2>Failures ({len(failed)})</h2>{body}</section>'

    def requirements(self, rows: list[RequirementCoverage], section: str, title: str, intro: str) -> str:
        if not rows:
            return f'<section id="{section}"><h2>{escape(title)}</h2><p>{escape(intro)} None in this run.</p></section>'
        grouped: dict[str, list[RequirementCoverage]] = defaultdict(list)
        for item in rows:
            # SDK requirements by the SDK they judge; fidelity by the document the simulator follows.
            group = sdk_of_requirement(item.requirement.id) if section == "sdk" else item.requirement.source
            grouped[group].append(item)
        parts = [f'<section id="{section}"><h2>{escape(title)}</h2><p>{escape(intro)}</p>']
        for sdk in sorted(grouped):
            heading = _sdk_label(sdk, self.record.sdks) if section == "sdk" else sdk
            parts.append(f'<h3 id="{section}-{_anchor(sdk)}">{escape(heading)}</h3>'
                         '<div class="scroll"><table><thead><tr><th class="rowhead">requirement</th><th>state</th>'
                         "<th>severity</th><th>transport</th><th>what must hold</th><th>source</th><th>checks</th>"
                         "</tr></thead><tbody>")
            for item in grouped[sdk]:
                parts.append(self._requirement_row(item, section))
            parts.append("</tbody></table></div>")
        parts.append("</section>")
        return "".join(parts)

    def _requirement_row(self, item: RequirementCoverage, section: str) -> str:
        requirement = item.requirement
        state = _state(item.status)
        related = [self.checks[cid] for cid in item.check_ids]
        rendered = [f'<a href="#{_check_anchor(c.id)}">{_badge(_outcome_state(c.outcome))} <code class="wrap">'
                    f'{escape(c.id.rsplit("::", 1)[-1])}</code></a>' for c in related]
        links = "<br>".join(rendered[:3]) or "no check"
        if len(rendered) > 3:  # parametrised checks: the rest one keypress away
            links += f"<details><summary>{len(rendered) - 3} more</summary>{'<br>'.join(rendered[3:])}</details>"
        state_text = _badge(state) + (escape(_skip_reasons(related)) if state == "skipped" else "")
        transport = transport_of_requirement(requirement.id)
        sdk = sdk_of_requirement(requirement.id)
        return (f'<tr id="{section}-req-{_anchor(requirement.id)}" data-state="{escape(state)}" data-sdk="{escape(sdk)}" '
                f'data-transport="{escape(transport)}"><td class="rowhead"><code>{escape(requirement.id)}</code></td>'
                f"<td>{state_text}</td><td>{escape(requirement.level)}</td><td>{escape(transport)}</td>"
                f'<td class="title">{escape(requirement.title)}</td><td class="source">{escape(requirement.source)}'
                f"{(' / ' + escape(requirement.section)) if requirement.section else ''}</td><td class=\"checks\">{links}</td></tr>")

    def indexes(self) -> str:
        """Filtering without JavaScript: link lists per state and per transport into the rows."""
        parts = ['<section id="indexes"><h2>Requirements by state and transport</h2>']
        for name, rows, section in (("SDK", self.sdk_rows, "sdk"), ("simulator fidelity", self.sim_rows, "fidelity")):
            for state in _STATES:
                chosen = [i for i in rows if _state(i.status) == state]
                if not chosen:
                    continue
                anchor = f"state-{_anchor(state)}" if section == "sdk" else f"fidelity-state-{_anchor(state)}"
                links = " ".join(f'<a href="#{section}-req-{_anchor(i.requirement.id)}">{escape(i.requirement.id)}</a>'
                                 for i in chosen)
                parts.append(f'<details id="{anchor}" class="index"><summary>{escape(name)}: {_badge(state)} '
                             f"{len(chosen)}</summary><p>{links}</p></details>")
        transports: dict[str, list[RequirementCoverage]] = defaultdict(list)
        for item in self.sdk_rows:
            transports[transport_of_requirement(item.requirement.id)].append(item)
        for transport in sorted(transports):
            links = " ".join(f'<a href="#sdk-req-{_anchor(i.requirement.id)}">{escape(i.requirement.id)}</a>'
                             for i in transports[transport])
            parts.append(f'<details id="transport-{_anchor(transport)}" class="index"><summary>SDK requirements over '
                         f"{escape(transport)}: {len(transports[transport])}</summary><p>{links}</p></details>")
        parts.append("</section>")
        return "".join(parts)

    def filters(self) -> str:
        sdks = sorted({sdk_of_requirement(i.requirement.id) for i in self.sdk_rows + self.sim_rows})
        transports = sorted({transport_of_requirement(i.requirement.id) for i in self.sdk_rows + self.sim_rows})

        def select(name: str, values: Iterable[str]) -> str:
            options = "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)
            return f'<label>{escape(name)} <select name="{name}"><option value="">all</option>{options}</select></label>'

        return (f'<form id="filters" class="filters" hidden>Show only: {select("sdk", sdks)}'
                f'{select("transport", transports)}{select("state", _STATES)}</form>')

    def check_table(self) -> str:
        rows = []
        for check in self.record.checks:
            finding = ""
            if check.finding is not None:
                finding = (f"<br><b>finding</b> {escape(check.finding.requirement)} in <code>{escape(check.finding.sdk)}</code>: "
                           f"{escape(check.finding.reason)}")
            state = _outcome_state(check.outcome)
            skip = f" ({escape(check.skip_kind)})" if check.outcome == "skipped" and check.skip_kind else ""
            rows.append(
                f'<tr id="{_check_anchor(check.id)}" data-state="{escape(state)}" data-sdk="'
                f'{escape(" ".join(sorted({sdk_of_requirement(r) for r in check.covered_ids})))}" data-transport="'
                f'{escape(" ".join(sorted({transport_of_requirement(r) for r in check.covered_ids})))}">'
                f'<td class="rowhead"><code class="wrap">{escape(check.id)}</code>{finding}</td>'
                f"<td>{_badge(state)}{skip}</td><td>{escape(check.kind)}</td>"
                f"<td>{', '.join(escape(r) for r in check.requirement_ids)}</td><td>{check.duration_s:.2f}s</td>"
                f'<td class="msg mono">{escape(check.message)}</td><td><code class="cmd wrap">{escape(check.reproduce)}</code></td>'
                f"<td>{_evidence_links(check) if check.evidence else ''}</td></tr>")
        return ('<section id="checks"><h2>Checks</h2><div class="scroll"><table><thead><tr><th class="rowhead">check</th>'
                "<th>state</th><th>kind</th><th>requirements</th><th>time</th><th>message</th><th>reproduce</th>"
                f"<th>evidence</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>")

    def provenance(self) -> str:
        record = self.record
        p = record.provenance
        seeds = ", ".join(f"{name}={value}" for name, value in sorted(record.seeds.items())) or "none"
        evidence = [(c.id, e) for c in record.checks for e in c.evidence]
        hashes = "".join(f'<tr><td><a href="{escape(e.path)}"><code class="wrap">{escape(e.path)}</code></a></td>'
                         f'<td class="mono">{escape(e.sha256 or "not recorded")}</td></tr>' for _, e in evidence)
        rows = [
            ("target", f"{record.target.name} ({record.target.kind}) {record.target.description}"),
            ("command", record.command),
            ("SDKs under test", ", ".join(str(s) for s in record.sdks) or "none"),
            ("hil", f"{record.hil_version}, commit {p.hil_commit} ({p.hil_tree} tree)"),
            ("spec revision", f"catalog SHA-256 {p.spec_revision}"),
            ("bench file", f"{p.bench_file} SHA-256 {p.bench_sha256}" if p.bench_file else "none (built-in target)"),
            ("seeds", seeds),
            ("Python", f"{record.python.implementation} {record.python.version}"),
            ("platform", f"{record.platform.system} {record.platform.release} {record.platform.machine}, "
                         f"{record.platform.cpus} CPU(s)"),
            ("run", f"{record.run_id}, {record.started_at} to {record.finished_at}, record schema {record.schema_version}"),
            ("run record", f"run-record.json SHA-256 {self.record_sha256 or 'not computed'} "
                           "(verify: sha256sum -c run-record.json.sha256)"),
        ]
        table = "".join(f"<tr><td>{escape(k)}</td><td class=\"wrap\">{escape(v)}</td></tr>" for k, v in rows)
        return (f'<section id="provenance"><h2>Provenance</h2><table class="meta">{table}</table>'
                f"<h3>Evidence files</h3><table><thead><tr><th>file</th><th>SHA-256</th></tr></thead>"
                f"<tbody>{hashes or '<tr><td colspan=2>none</td></tr>'}</tbody></table></section>")


def _merged_evidence(check: CheckRecord, base: str | None) -> str:
    if base is None or not check.evidence:
        return ""
    links = ", ".join(f'<a href="{escape(posixpath.join(base, e.path))}">{escape(e.kind)}</a>' for e in check.evidence)
    return f" evidence: {links}"


def _outcome_state(outcome: str) -> str:
    """A check's outcome in the auditor's words (one vocabulary with the requirement states).

    Outcomes this page does not know (a newer record) are shown as they are, never as a pass.
    """
    known = {"passed": "passed", "xfailed": "finding", "skipped": "skipped", "failed": "failed",
             "error": "failed", "xpassed": "failed", "not-applicable": "not applicable", "fixed": "fixed"}
    return known.get(outcome, outcome)


def _state(status: str) -> str:
    """A requirement's coverage status in the auditor's words (unknown ones as they are)."""
    return _STATE_LABEL.get(status, status)


def render_html(record: RunRecord, record_sha256: str | None = None) -> str:
    """The page for one run record."""
    page = _Page(record, record_sha256)
    sdks = ", ".join(str(s) for s in record.sdks) or "no SDK"
    nav = ('<nav class="top" aria-label="sections"><a href="#verdict">Verdict</a><a href="#findings">Findings</a>'
           '<a href="#failures">Failures</a><a href="#sdk">SDK requirements</a><a href="#fidelity">Simulator fidelity</a>'
           '<a href="#indexes">By state / transport</a><a href="#checks">Checks</a><a href="#provenance">Provenance</a></nav>')
    return "".join([
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>hil conformance report: {escape(record.target.name)}</title><style>{_STYLE}</style></head><body>",
        '<a class="skip" href="#verdict">Skip to the verdict</a>', nav, "<main>",
        f"<h1>Conformance report: {escape(sdks)} on target {escape(record.target.name)}</h1>",
        f"<p>Command <code>{escape(record.command)}</code>, run {escape(record.run_id)}, {escape(record.started_at)}; "
        f'hil {escape(record.hil_version)} at commit <code>{escape(record.provenance.hil_commit[:12])}</code> '
        f"({escape(record.provenance.hil_tree)}). <a href=\"#provenance\">Provenance</a></p>",
        page.verdict(), page.findings(), page.failures(), page.filters(),
        page.requirements(page.sdk_rows, "sdk", "SDK requirements",
                          "Requirements judged by the SDK conformance checks, and those no check covers."),
        page.requirements(page.sim_rows, "fidelity", "Simulator fidelity",
                          "Server behaviour the simulators must reproduce, judged by hil's own simulator tests "
                          "(not by the SDK checks)."),
        page.indexes(), page.check_table(), page.provenance(),
        f"</main><script>{_SCRIPT}</script></body></html>\n",
    ])


def write_html(record: RunRecord, path: Path, *, record_sha256: str | None = None) -> None:
    write_atomically(path, render_html(record, record_sha256).encode())


def render_merged_html(merged: MergedRuns, record_dirs: Mapping[str, str] | None = None) -> str:
    """The coverage matrix of several runs: one row per requirement, one column per target and SDK
    version set. The table scrolls inside its box with the header row and the requirement column
    sticky; every cell links to the list of checks behind it, each with its reproducer and, when
    ``record_dirs`` says where each run's report directory is (run id -> path relative to the
    page), its evidence files."""
    dirs = record_dirs or {}
    keys = merged.keys
    matrix = merged.coverage()
    header = "".join(f'<th scope="col">{escape(key.label)}</th>' for key in keys)
    rows = []
    details = []
    for requirement in merged.requirements:
        cells = []
        for index, key in enumerate(keys):
            state = _state(matrix[requirement.id].get(key, "not-checked"))
            anchor = _anchor("cell", str(index), requirement.id)
            related = [(record.run_id, c) for record in merged.runs[key] for c in record.checks
                       if requirement.id in c.covered_ids]
            if related:
                cells.append(f'<td><a href="#{anchor}">{_badge(state)}</a></td>')
                items = "".join(f"<li>{_badge(_outcome_state(c.outcome))} <code class=\"wrap\">{escape(c.id)}</code>"
                                f"{' ' + escape(c.message) if c.message else ''} <code class=\"cmd wrap\">{escape(c.reproduce)}</code>"
                                f"{_merged_evidence(c, dirs.get(run_id))}</li>"
                                for run_id, c in related)
                details.append(f'<section id="{anchor}"><h3>{escape(requirement.id)} on {escape(key.label)}</h3>'
                               f"<ul>{items}</ul></section>")
            else:
                cells.append(f"<td>{_badge(state)}</td>")
        rows.append(f'<tr data-state="{" ".join(sorted({_state(s) for s in matrix[requirement.id].values()}))}">'
                    f'<th class="rowhead" scope="row"><code>{escape(requirement.id)}</code></th><td>{escape(requirement.level)}</td>'
                    f"<td>{escape(requirement.title)}</td>{''.join(cells)}</tr>")
    runs = sum(len(records) for records in merged.runs.values())
    uninstallable = "".join(
        f"<li>{escape(key.label)}: {_badge('not-installable')} {escape(reason)}</li>"
        for key in keys if (reason := merged.not_installable(key)) is not None
    )
    changes = merged.changes()
    changed_rows = "".join(
        f"<tr><td><code>{escape(requirement_id)}</code></td>"
        + "".join(f"<td>{_badge(_state(row.get(key, 'not-checked')))}</td>" for key in keys)
        + "</tr>"
        for requirement_id, row in changes.items()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>hil conformance matrix</title><style>{_STYLE}</style></head><body><main>"
        f"<h1>Conformance matrix</h1><p>{runs} run(s), {len(keys)} target/SDK combination(s).</p>"
        + (f"<h2>SDK sets that cannot be installed</h2><ul>{uninstallable}</ul>" if uninstallable else "")
        + f"<h2>What changed between versions</h2><p>{len(changes)} requirement(s) differ.</p>"
        + (f"<table><tr><th>id</th>{header}</tr>{changed_rows}</table>" if changes else "")
        + "<h2>All requirements</h2>"
        f'<div class="scroll"><table><thead><tr><th class="rowhead">requirement</th><th>level</th><th>what must hold</th>'
        f"{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        f"<h2>Checks behind each cell</h2>{''.join(details)}</main></body></html>\n"
    )

