"""The `snap` engine: ESA SNAP's Graph Processing Tool on a SNAP graph XML, as upstream runs it.

    gpt <graph.xml> -x -q <snap_cpu_parallelism> -Pname=value ...

gpt puts each `-Pname=value` where the XML says `${name}`. The XML is a file of the graph
folders; gpt is `processing.snap_gpt`. `graph check` verifies what it can without SNAP: gpt
is installed, the XML is well formed, every node's sources exist, and every `${name}` the XML
uses is an argument of the step (an unset one only fails deep inside gpt).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from geocube_ingest.processing import policy
from geocube_ingest.processing.engines.cmd import run_program, search_dirs, step_envs
from geocube_ingest.settings import Settings, get_settings

if TYPE_CHECKING:
    from geocube_ingest.processing.graph import Step
    from geocube_ingest.processing.runner import StepContext

VARIABLE = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")
PARALLELISM_KEY = "snap_cpu_parallelism"


def gpt_command(gpt: str, graph_xml: Path, parallelism: str, args: dict[str, str]) -> list[str]:
    return [gpt, str(graph_xml), "-x", "-q", parallelism, *(f"-P{name}={value}" for name, value in args.items())]


def variables(graph_xml: Path) -> set[str]:
    """The `${name}` parameters gpt substitutes in this graph."""
    return set(VARIABLE.findall(graph_xml.read_text(errors="replace")))


def _sources(node: ET.Element) -> list[str]:
    """Node ids a node reads: `<sourceProduct refid="Read"/>` or the older `<source>Read</source>`."""
    found: list[str] = []
    sources = node.find("sources")
    for source in [] if sources is None else list(sources):
        ref = source.get("refid") or (source.text or "").strip()
        if ref and not VARIABLE.fullmatch(ref):
            found.append(ref)
    return found


def xml_problems(graph_xml: Path, args: Iterable[str]) -> list[str]:
    """What is wrong with a SNAP graph for a step giving `args` (empty: nothing found)."""
    try:
        root = ET.parse(graph_xml).getroot()
    except ET.ParseError as exc:
        return [f"SNAP graph {graph_xml.name} is not well-formed XML: {exc}"]
    if root.tag != "graph":
        return [f"SNAP graph {graph_xml.name}: the root element is <{root.tag}>, not <graph>"]
    nodes = root.findall("node")
    ids = [node.get("id", "") for node in nodes]
    problems = [] if nodes else [f"SNAP graph {graph_xml.name} has no <node>"]
    seen: set[str] = set()
    for node, node_id in zip(nodes, ids, strict=True):
        where = f"SNAP graph {graph_xml.name}, node {node_id or '?'}"
        if not node_id:
            problems.append(f"{where}: no id")
        elif node_id in seen:
            problems.append(f"{where}: the id is used twice")
        seen.add(node_id)
        if not (node.findtext("operator") or "").strip():
            problems.append(f"{where}: no <operator>")
        problems += [f"{where}: source {ref!r} is not a node" for ref in _sources(node) if ref not in ids]
    missing = sorted(variables(graph_xml) - set(args))
    problems += [
        f"SNAP graph {graph_xml.name} uses ${{{name}}} but the step has no argument {name!r}" for name in missing
    ]
    return problems


def gpt_problem(settings: Settings) -> str | None:
    gpt = settings.processing.snap_gpt
    if policy.resolve_executable(gpt) is None:
        return f"ESA SNAP's gpt is not installed here ({gpt!r} not found: set processing.snap_gpt)"
    return None


class SnapEngine:
    name = "snap"

    def run(self, step: Step, args: dict[str, str], context: StepContext) -> None:
        graph_xml = policy.require_step_file(step.command, search_dirs(context), "SNAP graph")
        problem = gpt_problem(context.settings)
        if problem is not None:
            raise policy.StepRefused(problem)
        gpt = context.settings.processing.snap_gpt
        parallelism = context.config.get(PARALLELISM_KEY, "1")
        argv = gpt_command(gpt, graph_xml, parallelism, args)
        run_program(argv, context, f"gpt {graph_xml.name}", step_envs(context, step))

    def check(self, step: Step, base_dirs: list[str], settings: Settings | None = None) -> list[tuple[str, str]]:
        settings = settings or get_settings()
        problems: list[tuple[str, str]] = []
        try:
            graph_xml = policy.require_step_file(step.command, [Path(d) for d in base_dirs], "SNAP graph")
        except policy.StepRefused as exc:
            problems.append(("command", str(exc)))
        else:
            problems += [("command", p) for p in xml_problems(graph_xml, step.args)]
        gpt = gpt_problem(settings)
        if gpt is not None:
            problems.append(("engine", gpt))
        return problems
