"""The run record as JUnit XML, for CI systems that only understand JUnit.

Run metadata goes into ``<testsuite><properties>``; each testcase carries its requirement ids
as ``<properties><property name="requirement" value="ID"/>`` (the form pytest's own JUnit writer
uses, which Jenkins, GitLab and Azure read), so a CI server can be asked "which cases check
ASTARTE-MQTT-TLS-01?". Requirement ids and evidence are repeated in ``<system-out>``, evidence
with the ``[[ATTACHMENT|path]]`` convention that the Jenkins attachments plugin picks up, and the
body of a ``<failure>`` ends with the evidence paths, so the first thing a reader of a red build
sees says where to look.

Outcome mapping:

============  ==============================================================
``passed``    no child element
``failed``    ``<failure>``
``error``     ``<error>``
``skipped``   ``<skipped>``
``xfailed``   ``<skipped type="finding">`` with the finding's requirement and reason: a known
              deviation must not turn the build red
``xpassed``   ``<failure type="xpass">`` when the check records a finding (findings are strict:
              the deviation is gone and the record must be updated); no element otherwise
============  ==============================================================

The target name prefixes every ``classname`` so that JUnit files of several targets can be
merged by a CI server without ``classname.name`` collisions; with ``name_sdks=True`` (several SDK
version sets in one CI run, as ``hil matrix`` makes) the SDK set is part of it too.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from hil.report.atomic_file import write_atomically
from hil.report.record import CheckRecord, RunRecord

__all__ = ["junit_tree", "write_junit"]

#: Characters XML 1.0 cannot carry at all; ElementTree would write them and produce a file no
#: parser accepts (captured device output is the usual source).
_XML_INVALID: Final = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def write_junit(record: RunRecord, path: Path, *, name_sdks: bool = False) -> None:
    """Write the JUnit XML projection of ``record`` to ``path`` (atomically).

    Raises:
        ReportError: the file could not be written.
    """
    tree = junit_tree(record, name_sdks=name_sdks)
    ET.indent(tree)
    write_atomically(Path(path), ET.tostring(tree, encoding="utf-8", xml_declaration=True))


def junit_tree(record: RunRecord, *, name_sdks: bool = False) -> ET.Element:
    """The ``<testsuites>`` element for ``record`` (one ``<testsuite>``): handy for tests and merging.

    Args:
        name_sdks: put the SDK versions into every ``classname`` (when several sets run).
    """
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite")
    properties = ET.SubElement(suite, "properties")
    for name, value in _suite_properties(record):
        ET.SubElement(properties, "property", name=name, value=_clean(value))

    counts = {"failures": 0, "errors": 0, "skipped": 0}
    used_names: set[tuple[str, str]] = set()
    prefix = record.target.name
    if name_sdks:
        prefix += "[" + ",".join(f"{sdk.name}=={sdk.version}" for sdk in sorted(record.sdks)) + "]"
    for check in record.checks:
        classname, name = _case_names(prefix, check, used_names)
        case = ET.SubElement(
            suite, "testcase", classname=_clean(classname), name=_clean(name),
            time=f"{check.duration_s:.3f}",
        )
        case_properties = ET.SubElement(case, "properties")
        for requirement_id in check.covered_ids:
            ET.SubElement(case_properties, "property", name="requirement", value=requirement_id)
        if check.finding is not None:
            ET.SubElement(case_properties, "property", name="finding", value=check.finding.requirement)
        ET.SubElement(case_properties, "property", name="reproduce", value=_clean(check.reproduce))
        kind = _add_outcome(case, check)
        if kind is not None:
            counts[kind] += 1
        ET.SubElement(case, "system-out").text = _clean(_system_out(check))

    suite.attrib.update(
        name=_clean(record.target.name),
        tests=str(len(record.checks)),
        failures=str(counts["failures"]),
        errors=str(counts["errors"]),
        skipped=str(counts["skipped"]),
        time=f"{_wall_time(record):.3f}",
        timestamp=_xunit_timestamp(record.started_at),
    )
    suites.attrib.update(
        name="hil",
        tests=suite.get("tests", "0"),
        failures=suite.get("failures", "0"),
        errors=suite.get("errors", "0"),
        skipped=suite.get("skipped", "0"),
        time=suite.get("time", "0"),
    )
    return suites


def _suite_properties(record: RunRecord) -> list[tuple[str, str]]:
    properties = [
        ("hil.schema_version", record.schema_version),
        ("hil.run_id", record.run_id),
        ("hil.version", record.hil_version),
        ("target.name", record.target.name),
        ("target.kind", record.target.kind),
        ("target.description", record.target.description),
        ("python", f"{record.python.implementation} {record.python.version}"),
        ("platform", f"{record.platform.system} {record.platform.release} {record.platform.machine}"),
    ]
    properties += [(f"sdk.{sdk.name}", sdk.version) for sdk in record.sdks]
    properties += [(f"seed.{name}", str(value)) for name, value in sorted(record.seeds.items())]
    return properties


def _case_names(
    target: str, check: CheckRecord, used: set[tuple[str, str]]
) -> tuple[str, str]:
    """``classname`` from the nodeid's file and class, ``name`` from the test with its parameters.

    ``tests/conformance/test_mqtt.py::TestTls::test_refused[ec]`` on target ``sim`` becomes
    ``sim.tests.conformance.test_mqtt.TestTls`` / ``test_refused[ec]``. Nodeids are unique, but
    the mapping is not injective in corner cases (``a/b.py`` and ``a.b.py``), so a collision
    falls back to the full nodeid as name rather than silently merging two cases.
    """
    file_part, _, rest = check.id.partition("::")
    parts = rest.split("::") if rest else [check.name]
    module = file_part.removesuffix(".py").replace("/", ".").replace("\\", ".")
    classname = ".".join(filter(None, [target, module, *parts[:-1]]))
    name = parts[-1]
    if (classname, name) in used:
        name = check.id
    used.add((classname, name))
    return classname, name


def _add_outcome(case: ET.Element, check: CheckRecord) -> str | None:
    """Append the outcome element; return the suite counter it increments, if any."""
    finding = check.finding
    match check.outcome:
        case "failed":
            _child(case, "failure", check.message or "check failed", check.message, check=check)
            return "failures"
        case "error":
            _child(case, "error", check.message or "error outside the check body", check.message, check=check)
            return "errors"
        case "skipped":
            _child(case, "skipped", check.message or "skipped", "")
            return "skipped"
        case "xfailed":
            if finding is not None:
                text = f"known finding {finding.requirement}: {finding.reason}"
                detail = text + (f" (sdk {finding.sdk})" if finding.sdk else "")
            else:
                text = detail = check.message or "expected failure"
            _child(case, "skipped", text, detail, type_="finding")
            return "skipped"
        case "xpassed" if finding is not None:
            text = (
                f"finding {finding.requirement} no longer reproduces; update or remove the "
                f"finding marker ({finding.reason})"
            )
            _child(case, "failure", text, check.message, type_="xpass", check=check)
            return "failures"
    return None


def _child(case: ET.Element, tag: str, message: str, body: str, *, type_: str | None = None,
           check: CheckRecord | None = None) -> None:
    element = ET.SubElement(case, tag, message=_clean(message))
    if type_ is not None:
        element.set("type", type_)
    if check is not None and check.evidence and tag in ("failure", "error"):
        body = "\n".join([body, *(f"evidence: {item.path}" for item in check.evidence)]).strip()
    if body:
        element.text = _clean(body)


def _system_out(check: CheckRecord) -> str:
    lines = [f"requirements: {', '.join(check.requirement_ids) or '(none)'}"]
    if check.finding is not None:
        lines.append(
            f"finding: {check.finding.requirement}: {check.finding.reason}"
            + (f" (sdk {check.finding.sdk})" if check.finding.sdk else "")
        )
    for evidence in check.evidence:
        # The attachment marker stays alone on its line: that is the form CI plugins match.
        described = f": {evidence.description}" if evidence.description else ""
        lines.append(f"evidence ({evidence.kind}){described}")
        lines.append(f"[[ATTACHMENT|{evidence.path}]]")
    return "\n".join(lines)


def _wall_time(record: RunRecord) -> float:
    started = datetime.fromisoformat(record.started_at)
    finished = datetime.fromisoformat(record.finished_at)
    return max(0.0, (finished - started).total_seconds())


def _xunit_timestamp(iso: str) -> str:
    """xunit2 wants ``YYYY-MM-DDTHH:MM:SS`` with no zone and no fraction; we give it UTC."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _clean(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)
