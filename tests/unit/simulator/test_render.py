"""Unit tests of the simulator's Prometheus rendering and per-node merge."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from watchdog.simulator.deployment import Families
from watchdog.simulator.render import merge_nodes, prometheus_text


def family(kind: str, *samples: dict[str, object]) -> dict[str, object]:
    return {"type": kind, "help": f"A {kind}", "data": list(samples)}


def test_label_values_escaped() -> None:
    """Quotes, backslashes and newlines in label values are escaped and round-trip."""
    value = 'say "hi"\\there\nnext line'
    families: Families = {"things": family("gauge", {"labels": {"v": value}, "value": 1})}
    text = prometheus_text(families)
    assert text == (
        "# HELP things A gauge\n# TYPE things gauge\n"
        'things{v="say \\"hi\\"\\\\there\\nnext line"} 1\n'
    )
    [parsed] = text_string_to_metric_families(text)
    assert parsed.samples[0].labels == {"v": value}


def test_label_less_sample() -> None:
    """A sample without labels renders as `name value`."""
    text = prometheus_text({"pending_messages": family("gauge", {"value": 7})})
    assert text.splitlines()[-1] == "pending_messages 7"


def test_families_without_data_skipped() -> None:
    """Families with no samples produce no lines at all; nothing at all gives ''."""
    assert prometheus_text({"empty": family("gauge")}) == ""
    text = prometheus_text({"empty": family("gauge"), "full": family("counter", {"value": 1})})
    assert "empty" not in text
    assert "# TYPE full counter" in text


def test_help_and_type_precede_samples() -> None:
    """Each family starts with its HELP then TYPE line, and the whole text parses."""
    families: Families = {
        "a_total": family("counter", {"labels": {"x": "1"}, "value": 2}),
        "b": family("gauge", {"value": 3}),
    }
    lines = prometheus_text(families).splitlines()
    assert lines == [
        "# HELP a_total A counter",
        "# TYPE a_total counter",
        'a_total{x="1"} 2',
        "# HELP b A gauge",
        "# TYPE b gauge",
        "b 3",
    ]
    assert [f.name for f in text_string_to_metric_families("\n".join(lines))] == ["a", "b"]


def test_merge_nodes_puts_node_first() -> None:
    """Merging per-node stats joins families by name and makes `node` the first label."""
    per_node: dict[str, Families] = {
        "h1:aaaaaaaaaaaa": {
            "sent": family("counter", {"labels": {"retry": "0", "type": "x"}, "value": 1}),
            "queue": family("gauge", {"value": 5}),
        },
        "h2:bbbbbbbbbbbb": {"sent": family("counter", {"labels": {"retry": "1"}, "value": 2})},
        "h3:cccccccccccc": {},
    }
    merged = merge_nodes(per_node)
    assert list(merged) == ["sent", "queue"]
    assert merged["sent"]["type"] == "counter"
    assert merged["sent"]["help"] == "A counter"
    assert merged["sent"]["data"] == [
        {"labels": {"node": "h1:aaaaaaaaaaaa", "retry": "0", "type": "x"}, "value": 1},
        {"labels": {"node": "h2:bbbbbbbbbbbb", "retry": "1"}, "value": 2},
    ]
    assert merged["queue"]["data"] == [{"labels": {"node": "h1:aaaaaaaaaaaa"}, "value": 5}]
    for sample in (*merged["sent"]["data"], *merged["queue"]["data"]):
        assert next(iter(sample["labels"])) == "node"
    lines = prometheus_text(merged).splitlines()
    assert 'sent{node="h1:aaaaaaaaaaaa",retry="0",type="x"} 1' in lines
    assert 'queue{node="h1:aaaaaaaaaaaa"} 5' in lines


def test_merge_nodes_does_not_touch_input() -> None:
    """Merging leaves the per-node families as they were."""
    per_node: dict[str, Families] = {
        "h:1": {"q": family("gauge", {"labels": {"a": "b"}, "value": 1})}
    }
    merge_nodes(per_node)
    assert per_node["h:1"]["q"]["data"] == [{"labels": {"a": "b"}, "value": 1}]
