"""The graph drawn (issue 14): every format shows each node's key, lifetime and whether
it is a resource, each edge's parameter, and marks the problems validation finds."""

import json
from typing import Any

from injectq import InjectQ, resource, scoped
from injectq.diagnostics import DependencyVisualizer

built: list[str] = []


@resource
class Pool:
    def __init__(self, dsn: str) -> None:
        built.append("Pool")

    def initialize(self) -> None:
        built.append("Pool.initialize")


@scoped("request")
class Session:
    def __init__(self, pool: Pool) -> None:
        built.append("Session")


class Handler:  # bound as a singleton: holds a request-scoped Session (captive)
    def __init__(self, session: Session, retries: int = 3) -> None:
        built.append("Handler")


class Lonely:
    def __init__(self, token: str) -> None:  # nothing feeds `token`: missing
        built.append("Lonely")


def app() -> InjectQ:
    c = InjectQ()
    c["dsn"] = "sqlite://"
    c.bind(Pool)
    c.bind(Handler)
    c.bind(Lonely)
    return c


def test_dependency_graph_lists_every_service_even_a_broken_one() -> None:
    built.clear()
    graph = app().get_dependency_graph()
    assert graph == {
        "dsn": [],
        Pool: ["dsn"],
        Handler: [Session],
        Session: [Pool],
        Lonely: [],
    }
    assert built == []


def test_mermaid_shows_lifetimes_resources_params_and_problems() -> None:
    built.clear()
    viz = app().visualize_dependencies()
    assert isinstance(viz, DependencyVisualizer)
    text = viz.to_mermaid()
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    ids = {line.split("[")[0].split("(")[0].strip(): line for line in lines if "<br/>" in line}
    by_label = {line.split('"')[1].split("<br/>")[0]: node for node, line in ids.items()}
    assert '(["Pool<br/>singleton, resource"])' in ids[by_label["Pool"]]
    assert '["Session<br/>request"]' in ids[by_label["Session"]]
    assert f"  {by_label['Handler']} -->|session| {by_label['Session']}" in lines
    dsn = by_label["'dsn'"]
    assert f"  {by_label['Pool']} -->|dsn| {dsn}" in lines
    assert f"  class {by_label['Session']} problem" in lines  # captive
    assert any("Lonely(token: str)<br/>missing" in line for line in lines)
    assert "classDef problem" in text
    assert built == []


def test_dot_json_and_ascii_show_the_same_graph() -> None:
    viz = app().visualize_dependencies()
    dot = viz.to_dot()
    assert '[label="Pool\\n[singleton, resource]", shape=box, style="rounded"' in dot
    assert '[label="session"];' in dot
    assert "color=red" in dot and 'tooltip="captive"' in dot

    data: dict[str, Any] = json.loads(json.dumps(viz.to_json()))
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes["Pool"] == {
        "id": "Pool",
        "kind": "class",
        "scope": "singleton",
        "resource": True,
        "problems": [],
    }
    assert nodes["Session"]["problems"] == ["captive"]
    assert {"from": "Handler", "to": "Session", "param": "session"} in data["edges"]
    assert sorted(p["kind"] for p in data["problems"]) == ["captive", "missing"]
    missing = next(p for p in data["problems"] if p["kind"] == "missing")
    assert missing["path"] == ["Lonely(token: str)"] and missing["severity"] == "error"

    text = viz.to_ascii()
    assert "Pool [singleton, class, resource]\n  Dependencies: dsn='dsn'" in text
    assert "Session [request, autowired]  ! captive" in text
    assert "! [missing] Cannot resolve parameter 'token: str' of Lonely" in text


def test_a_sound_graph_has_no_marks() -> None:
    c = InjectQ()
    c["dsn"] = "x"
    c.bind(Pool)
    viz = DependencyVisualizer(c)
    assert "class n" not in viz.to_mermaid()
    assert "color=" not in viz.to_dot()
    assert viz.to_json()["problems"] == []
    assert "!" not in viz.to_ascii()
