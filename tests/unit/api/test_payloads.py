"""Parsers of the API's JSON answers: real shapes, odd values, and arbitrary input."""

from __future__ import annotations

import contextlib
import json
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchdog.api.payloads import (
    GATEWAY_STATES,
    MAX_LABEL_VALUE,
    MAX_LABELS,
    MAX_NODES,
    MAX_SAMPLES,
    ApiErrorInfo,
    Health,
    PayloadError,
    Samples,
    api_error,
    parse_health,
    parse_metrics,
    parse_stats,
)
from watchdog.simulator import Deployment, Scenario, SimulatorConfig, Topology
from watchdog.simulator.catalogue import APP, DB, WEBAPP

NOW = 1_700_000_000.0
META = {"version": "v2.45.1", "api_status": "stable"}
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def deployment(
    topology: Topology = Topology.SINGLE, scenario: Scenario = Scenario.HEALTHY
) -> Deployment:
    return Deployment(SimulatorConfig(topology=topology, scenario=scenario), clock=lambda: NOW)


def roundtrip(body: Any) -> Any:
    """The body as a JSON decoder hands it over."""
    return json.loads(json.dumps(body))


def one(kind: Any, *data: Any, help_text: str = "Help") -> dict[str, Any]:
    return {"type": kind, "help": help_text, "data": list(data)}


def metrics(**families: Any) -> Samples:
    return parse_metrics({"metrics": families, "meta": META})


# -- health ---------------------------------------------------------------------------------------


def test_health_single_instance() -> None:
    """Single instance: one node `webapp` without role, status and meta kept."""
    health = parse_health(roundtrip({"health": deployment().health(NOW), "meta": META}))
    assert health == Health(
        nodes=(health.nodes[0],), topology="single", version="v2.45.1", api_status="stable"
    )
    [node] = health.nodes
    assert (node.node, node.role, node.status, node.error) == ("webapp", None, "connected", None)
    assert node.known_status == "connected"


def test_health_ha() -> None:
    """HA: one node per key with role; the primary master disconnected means topology `ha`."""
    sim = deployment(Topology.HA)
    health = parse_health(roundtrip({"health": sim.health(NOW), "meta": META}))
    assert health.topology == "ha"
    assert [(n.node, n.role, n.status) for n in health.nodes] == [
        (n.key, n.role.value if n.role else None, "connected" if n.active else "disconnected")
        for n in sim.nodes
    ]


def test_health_multiconnect_with_node_error() -> None:
    """Multiconnect with a coreapp down: its entry is an errors object (code 1014)."""
    sim = deployment(Topology.MULTICONNECT, Scenario.COREAPP_DOWN)
    health = parse_health(roundtrip({"health": sim.health(NOW), "meta": META}))
    assert health.topology == "multiconnect"
    errored = [n for n in health.nodes if n.error is not None]
    assert [n.node for n in errored] == [sim.nodes[2].key]
    details = f"Connection refused. Please check if wacore is running: {sim.nodes[2].address}"
    assert errored[0].error == ApiErrorInfo(1014, "Internal error", details)
    assert errored[0].status is None
    assert errored[0].role is None
    assert errored[0].known_status == "unknown"


def test_health_undocumented_status() -> None:
    """A status outside the documented five is kept as is but known as `unknown`."""
    health = parse_health({"health": {"gateway_status": "rebooting"}})
    assert health.nodes[0].status == "rebooting"
    assert health.nodes[0].known_status == "unknown"
    assert set(GATEWAY_STATES) == {
        "connected", "connecting", "disconnected", "uninitialized", "unregistered",
    }  # fmt: skip


def test_health_status_not_text() -> None:
    """A non-text gateway_status or role becomes None."""
    health = parse_health({"health": {"h:1": {"gateway_status": 1, "role": ["coreapp"]}}})
    assert (health.nodes[0].status, health.nodes[0].role) == (None, None)


def test_health_meta_missing_or_odd() -> None:
    """Without meta, or with non-text fields, version and api_status are None."""
    assert parse_health({"health": {"gateway_status": "connected"}}).version is None
    odd = parse_health({"health": {"gateway_status": "connected"}, "meta": {"version": 2}})
    assert (odd.version, odd.api_status) == (None, None)
    listed = parse_health({"health": {"gateway_status": "connected"}, "meta": ["v1"]})
    assert listed.version is None


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "<html>",
        {},
        {"health": None},
        {"health": []},
        {"health": {}},
        {"health": {"h:1": "connected"}},
        {"meta": META},
    ],
)
def test_health_unusable_shapes(body: Any) -> None:
    """Shapes the API never sends raise PayloadError."""
    with pytest.raises(PayloadError):
        parse_health(body)


def test_health_multiconnect_topology_guess() -> None:
    """A connected primary master means multiconnect."""
    health = parse_health(
        {
            "health": {
                "m:1": {"gateway_status": "connected", "role": "primary_master"},
                "c:1": {"gateway_status": "connected", "role": "coreapp"},
            }
        }
    )
    assert health.topology == "multiconnect"


def test_health_node_limit() -> None:
    """At most MAX_NODES nodes are kept."""
    nodes = {f"h:{i}": {"gateway_status": "connected"} for i in range(MAX_NODES + 5)}
    assert len(parse_health({"health": nodes}).nodes) == MAX_NODES


def test_health_long_and_surrogate_node_keys() -> None:
    """Node keys are cut to the label length limit and made UTF-8 encodable."""
    body = json.loads('{"health": {"\\ud800' + "x" * 400 + '": {"gateway_status": "connected"}}}')
    [node] = parse_health(body).nodes
    assert len(node.node) == MAX_LABEL_VALUE
    node.node.encode("utf-8")


def test_api_error() -> None:
    """api_error reads the first entry of an errors array; odd shapes give None or None fields."""
    body = {"errors": [{"code": 1015, "title": "Too many requests"}, {"code": 1}]}
    assert api_error(body) == ApiErrorInfo(1015, "Too many requests")
    assert api_error({"errors": [{"code": True, "title": 5}]}) == ApiErrorInfo(None, None)
    assert api_error({"errors": []}) is None
    assert api_error({"errors": ["x"]}) is None
    assert api_error({"errors": {"code": 1}}) is None
    assert api_error([1]) is None


# -- metrics ------------------------------------------------------------------------------------


def test_metrics_from_simulator() -> None:
    """The Webapp's metrics parse into samples with type, help and the node label."""
    sim = deployment()
    parsed = parse_metrics(roundtrip({"metrics": sim.metrics(NOW + 60), "meta": META}))
    assert parsed.skipped == 0
    assert parsed.version == "v2.45.1"
    assert {s.name for s in parsed.samples} <= set(WEBAPP)
    for sample in parsed.samples:
        assert sample.kind == WEBAPP[sample.name].kind
        assert sample.help == WEBAPP[sample.name].help
        assert dict(sample.labels)["node"] == sim.webapp_host
    uptime = [s for s in parsed.samples if s.name == "web_uptime"]
    assert [(s.labels, s.value) for s in uptime] == [((("node", sim.webapp_host),), 60.0)]
    requests = [s for s in parsed.samples if s.name == "api_requests_duration_ms_count"]
    assert requests
    assert [k for k, _ in requests[0].labels] == ["node", "result", "method"]


def test_metrics_odd_values() -> None:
    """Numeric strings and huge numbers are read; NaN, bools, null, text and missing values
    are skipped and counted."""
    parsed = metrics(
        g=one(
            "gauge",
            {"labels": {"v": "a"}, "value": "12"},
            {"labels": {"v": "b"}, "value": " 1e3 "},
            {"labels": {"v": "c"}, "value": "inf"},
            {"labels": {"v": "d"}, "value": 10**400},
            {"labels": {"v": "e"}, "value": -(10**400)},
            {"labels": {"v": "f"}, "value": 2.5},
            {"labels": {"v": "g"}, "value": -3},
            {"value": "NaN"},
            {"value": math.nan},
            {"value": True},
            {"value": None},
            {"value": "twelve"},
            {"value": [1]},
            {"labels": {"v": "h"}},
        )
    )
    assert [(dict(s.labels)["v"], s.value) for s in parsed.samples] == [
        ("a", 12.0),
        ("b", 1000.0),
        ("c", math.inf),
        ("d", math.inf),
        ("e", -math.inf),
        ("f", 2.5),
        ("g", -3.0),
    ]
    assert parsed.skipped == 7


def test_metrics_label_values() -> None:
    """Label values that are numbers, null or bools become text; long ones are cut."""
    labels = {"n": 200, "f": 1.5, "none": None, "b": False, "long": "x" * 1000, "s": "ok"}
    [sample] = metrics(m=one("gauge", {"labels": labels, "value": 1})).samples
    assert dict(sample.labels) == {
        "n": "200", "f": "1.5", "none": "", "b": "False", "long": "x" * MAX_LABEL_VALUE, "s": "ok",
    }  # fmt: skip


def test_metrics_label_names_sanitised() -> None:
    """Invalid label names are made valid; reserved `__` names are dropped; the first of two
    names that meet after sanitising wins."""
    labels = {"a-b": "1", "1st": "2", "": "3", "__name__": "4", "a_b": "5", "ok": "6", "é": "7"}
    [sample] = metrics(m=one("gauge", {"labels": labels, "value": 1})).samples
    assert sample.labels == (("a_b", "1"), ("_1st", "2"), ("_", "3"), ("ok", "6"))


def test_metrics_label_limit() -> None:
    """A sample with more than MAX_LABELS labels is skipped; exactly MAX_LABELS is kept."""
    ok = {f"l{i}": "v" for i in range(MAX_LABELS)}
    too_many = {f"l{i}": "v" for i in range(MAX_LABELS + 1)}
    parsed = metrics(m=one("gauge", {"labels": ok, "value": 1}, {"labels": too_many, "value": 2}))
    assert [len(s.labels) for s in parsed.samples] == [MAX_LABELS]
    assert parsed.skipped == 1


def test_metrics_labels_odd_shapes() -> None:
    """Missing or null labels mean none; labels that are not an object skip the sample."""
    parsed = metrics(
        m=one("gauge", {"value": 1}, {"labels": None, "value": 2}, {"labels": ["a"], "value": 3})
    )
    assert [(s.labels, s.value) for s in parsed.samples] == [((), 1.0), ((), 2.0)]
    assert parsed.skipped == 1


def test_metrics_surrogates_made_encodable() -> None:
    """Lone surrogates in label values and help are replaced, so exposition can encode them."""
    body = json.loads(
        '{"metrics": {"m": {"type": "gauge", "help": "h\\udc00",'
        ' "data": [{"labels": {"v": "a\\ud800b"}, "value": 1}]}}}'
    )
    [sample] = parse_metrics(body).samples
    assert sample.labels == (("v", "a?b"),)
    assert sample.help == "h?"


def test_metrics_types() -> None:
    """counter and gauge are kept; any other or missing type is `untyped`."""
    parsed = metrics(
        c=one("counter", {"value": 1}),
        g=one("gauge", {"value": 1}),
        h=one("histogram", {"value": 1}),
        n={"data": [{"value": 1}]},
        x=one(["gauge"], {"value": 1}),
    )
    assert {s.name: s.kind for s in parsed.samples} == {
        "c": "counter", "g": "gauge", "h": "untyped", "n": "untyped", "x": "untyped",
    }  # fmt: skip
    assert [s.help for s in parsed.samples if s.name == "n"] == [""]


def test_metrics_bad_families_skipped() -> None:
    """Invalid names, non-object families, non-list data and non-object entries are skipped."""
    parsed = metrics(
        **{
            "bad-name": one("gauge", {"value": 1}),
            "9lives": one("gauge", {"value": 1}),
            "not_object": 5,
            "no_data": {"type": "gauge"},
            "data_object": {"type": "gauge", "data": {"value": 1}},
            "entries": one("gauge", 7, "x", {"value": 1}),
            "ns:colon_ok": one("gauge", {"value": 2}),
        }
    )
    assert [(s.name, s.value) for s in parsed.samples] == [("entries", 1.0), ("ns:colon_ok", 2.0)]
    assert parsed.skipped == 7


def test_metrics_sample_limit() -> None:
    """No answer yields more than MAX_SAMPLES samples."""
    data = [{"value": i} for i in range(MAX_SAMPLES + 10)]
    parsed = metrics(a=one("gauge", *data), b=one("gauge", {"value": 1}))
    assert len(parsed.samples) == MAX_SAMPLES
    assert {s.name for s in parsed.samples} == {"a"}


@pytest.mark.parametrize(
    "body", [None, "x", [], {}, {"metrics": []}, {"metrics": None}, {"stats": {}}]
)
def test_metrics_unusable_shapes(body: Any) -> None:
    """A body without a `metrics` object raises PayloadError."""
    with pytest.raises(PayloadError):
        parse_metrics(body)


def test_metrics_empty() -> None:
    """An empty metrics object is valid and has no samples."""
    assert metrics() == Samples((), 0, "v2.45.1")


# -- stats ----------------------------------------------------------------------------------------


def test_stats_app_single() -> None:
    """Single-instance app stats: samples without a node label, types from the catalogue."""
    sim = deployment()
    body = roundtrip({"stats": {"app": sim.stats_app(NOW + 60)}, "meta": META})
    parsed = parse_stats(body, "app")
    assert parsed.skipped == 0
    assert {s.name for s in parsed.samples} == set(APP)
    for sample in parsed.samples:
        assert sample.kind == APP[sample.name].kind
        assert "node" not in dict(sample.labels)
    queue = [s for s in parsed.samples if s.name == "callback_queue_size"]
    assert len(queue) == 1
    assert queue[0].labels == ()


def test_stats_db_single() -> None:
    """Single-instance db stats: the five db_* gauges with their type labels."""
    parsed = parse_stats(roundtrip({"stats": {"db": deployment().stats_db(NOW)}}), "db")
    assert {s.name for s in parsed.samples} == set(DB)
    assert all(s.kind == "gauge" for s in parsed.samples)
    types = {dict(s.labels)["type"] for s in parsed.samples if s.name == "db_messages"}
    assert types == {"undefined", "system", "template"}


def test_stats_app_per_node() -> None:
    """HA app stats: every node's samples get its key as `node` label, first."""
    sim = deployment(Topology.HA)
    parsed = parse_stats(roundtrip({"stats": {"app": sim.stats_app(NOW + 60)}}), "app")
    nodes = {s.labels[0] for s in parsed.samples}
    assert nodes == {("node", n.key) for n in sim.nodes}
    pending = [s for s in parsed.samples if s.name == "pending_messages"]
    assert len(pending) == len(sim.nodes)


def test_stats_db_per_node_empty_nodes() -> None:
    """Multiconnect db stats: `{}` nodes contribute nothing; the primary master's samples
    carry its node key."""
    sim = deployment(Topology.MULTICONNECT)
    answer = sim.stats_db(NOW)
    assert isinstance(answer, dict)
    assert sum(1 for families in answer.values() if families == {}) == len(sim.nodes) - 1
    parsed = parse_stats(roundtrip({"stats": {"db": answer}}), "db")
    assert {dict(s.labels)["node"] for s in parsed.samples} == {sim.nodes[0].key}
    assert parsed.skipped == 0


def test_stats_per_node_keeps_node_over_api_label() -> None:
    """A `node` label sent by the API itself does not override the node key."""
    body = {"stats": {"app": {"h:1": {"q": one("gauge", {"labels": {"node": "x"}, "value": 1})}}}}
    [sample] = parse_stats(body, "app").samples
    assert sample.labels == (("node", "h:1"),)


def test_stats_all_nodes_empty() -> None:
    """Every node `{}` (db stats while the master is down) gives no samples, no error."""
    parsed = parse_stats({"stats": {"db": {"a:1": {}, "b:2": {}}}}, "db")
    assert parsed.samples == ()


def test_stats_per_node_label_limit_counts_node() -> None:
    """Per-node samples count the added node label towards MAX_LABELS."""
    labels = {f"l{i}": "v" for i in range(MAX_LABELS)}
    body = {"stats": {"app": {"h:1": {"q": one("gauge", {"labels": labels, "value": 1})}}}}
    parsed = parse_stats(body, "app")
    assert (parsed.samples, parsed.skipped) == ((), 1)


def test_stats_per_node_sample_limit() -> None:
    """The sample limit holds across nodes."""
    family = one("gauge", *({"labels": {"i": str(i)}, "value": i} for i in range(20_000)))
    body = {"stats": {"app": {f"h:{n}": {"q": family} for n in range(4)}}}
    assert len(parse_stats(body, "app").samples) <= MAX_SAMPLES


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"stats": None},
        {"stats": {}},
        {"stats": {"db": {}}},  # asked for app
        {"stats": {"app": []}},
        {"stats": {"app": "x"}},
    ],
)
def test_stats_unusable_shapes(body: Any) -> None:
    """A body without `stats.app` as an object raises PayloadError."""
    with pytest.raises(PayloadError):
        parse_stats(body, "app")


# -- properties -----------------------------------------------------------------------------------

surrogates = st.sampled_from(["\ud800", "a\udfffb", "\udc80x"])
texts = st.text(max_size=12) | surrogates
numbers = (
    st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
)
scalars = st.none() | st.booleans() | numbers | texts
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)
# Inside near-valid shapes a small odd value is enough to take every "wrong type" branch.
odd = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=2) | st.dictionaries(texts, children, max_size=2),
    max_leaves=3,
)


def identifiers(first: str, rest: str, max_size: int) -> st.SearchStrategy[str]:
    """Names like `[first][rest]*` (much faster to generate than `st.from_regex`)."""
    return st.builds(str.__add__, st.sampled_from(first), st.text(alphabet=rest, max_size=max_size))


LOWER = "abcdefghijklmnopqrstuvwxyz"
WORD = LOWER + LOWER.upper() + "_"
metric_names = identifiers(WORD + ":", WORD + ":0123456789", 12) | texts
label_names = identifiers(WORD, WORD + "0123456789", 8) | texts
values = numbers | st.sampled_from(["1", "-2.5", "1e400", "nan", "inf", "x", ""]) | odd
entries = (
    st.fixed_dictionaries(
        {"value": values},
        optional={"labels": st.dictionaries(label_names, odd, max_size=5) | odd},
    )
    | odd
)
families = (
    st.fixed_dictionaries(
        {"data": st.lists(entries, max_size=4) | odd},
        optional={
            "type": st.sampled_from(["counter", "gauge", "untyped", "histogram", ""]) | odd,
            "help": texts | odd,
        },
    )
    | odd
)
family_maps = st.dictionaries(metric_names, families, max_size=5)
metas = st.fixed_dictionaries({}, optional={"version": texts | odd, "api_status": texts})
node_keys = st.sampled_from(["h:1", "h:2", "master:abc"]) | texts
health_nodes = st.fixed_dictionaries(
    {},
    optional={
        "gateway_status": st.sampled_from(GATEWAY_STATES) | texts | odd,
        "role": st.sampled_from(["primary_master", "secondary_master", "coreapp"]) | odd,
        "errors": st.lists(st.fixed_dictionaries({"code": odd, "title": texts | odd}), max_size=2)
        | odd,
    },
)


def check_samples(parsed: Samples) -> None:
    """The invariants every parsed answer keeps."""
    assert isinstance(parsed, Samples)
    assert len(parsed.samples) <= MAX_SAMPLES
    assert parsed.skipped >= 0
    for sample in parsed.samples:
        assert METRIC_NAME.fullmatch(sample.name)
        assert sample.kind in ("counter", "gauge", "untyped")
        assert isinstance(sample.value, float)
        assert not math.isnan(sample.value)
        assert len(sample.labels) <= MAX_LABELS
        names = [name for name, _ in sample.labels]
        assert len(names) == len(set(names))
        for name, value in sample.labels:
            assert LABEL_NAME.fullmatch(name)
            assert not name.startswith("__")
            assert isinstance(value, str)
            assert len(value) <= MAX_LABEL_VALUE
            value.encode("utf-8")
        sample.help.encode("utf-8")


def check_health(health: Health) -> None:
    assert 1 <= len(health.nodes) <= MAX_NODES
    assert health.topology in ("single", "ha", "multiconnect")
    for node in health.nodes:
        assert len(node.node) <= MAX_LABEL_VALUE
        node.node.encode("utf-8")
        for text in (node.role, node.status, health.version, health.api_status):
            assert text is None or (isinstance(text, str) and len(text) <= 64)
            if text is not None:
                text.encode("utf-8")
        assert node.known_status in (*GATEWAY_STATES, "unknown")


def parse_all(body: Any) -> None:
    """Every parser on `body`: a usable result or PayloadError, nothing else."""
    with contextlib.suppress(PayloadError):
        check_health(parse_health(body))
    with contextlib.suppress(PayloadError):
        check_samples(parse_metrics(body))
    for kind in ("app", "db"):
        with contextlib.suppress(PayloadError):
            check_samples(parse_stats(body, kind))


def examples(count: int) -> settings:
    return settings(max_examples=count, deadline=None, suppress_health_check=[HealthCheck.too_slow])


MANY = examples(2000)
SOME = examples(1000)
HALF = examples(500)
FEW = examples(300)


@MANY
@given(body=json_values)
def test_arbitrary_json_never_escapes(body: Any) -> None:
    """Arbitrary JSON: the parsers return valid values or raise PayloadError, nothing else."""
    parse_all(body)


@SOME
@given(
    inner=json_values | st.dictionaries(texts, odd, max_size=4),
    key=st.sampled_from(["health", "metrics", "stats"]),
    meta=metas | json_values,
)
def test_arbitrary_envelope_contents(inner: Any, key: str, meta: Any) -> None:
    """A valid envelope key around arbitrary contents never lets another exception out."""
    parse_all({key: inner, "meta": meta})
    parse_all({"stats": {"app": inner, "db": inner}, "meta": meta})


@SOME
@given(families=family_maps, meta=metas)
def test_near_valid_metrics(families: dict[str, Any], meta: dict[str, Any]) -> None:
    """Valid envelopes with random family contents parse into valid samples."""
    check_samples(parse_metrics({"metrics": families, "meta": meta}))
    check_samples(parse_stats({"stats": {"db": families}, "meta": meta}, "db"))


@FEW
@given(nodes=st.dictionaries(node_keys, family_maps | st.just({}), max_size=3))
def test_near_valid_per_node_stats(nodes: dict[str, Any]) -> None:
    """Per-node stats with random contents parse into valid samples."""
    check_samples(parse_stats({"stats": {"app": nodes}}, "app"))


@HALF
@given(
    health=st.dictionaries(node_keys, health_nodes | odd, min_size=1, max_size=5)
    | st.fixed_dictionaries({"gateway_status": texts | odd}),
    meta=metas | odd,
)
def test_near_valid_health(health: dict[str, Any], meta: Any) -> None:
    """Health answers with random node contents parse, or fail with PayloadError only."""
    try:
        check_health(parse_health({"health": health, "meta": meta}))
    except PayloadError:
        assert any(not isinstance(v, dict) for v in health.values())


valid_labels = st.dictionaries(
    identifiers(LOWER, LOWER + "0123456789_", 6), st.text(max_size=10), max_size=4
)
valid_values = st.integers(-(10**9), 10**9) | st.floats(allow_nan=False, width=64)


@FEW
@given(
    families=st.dictionaries(
        identifiers(LOWER + "_", LOWER + "0123456789_", 10),
        st.tuples(
            st.sampled_from(["counter", "gauge"]),
            st.lists(st.tuples(valid_labels, valid_values), max_size=5),
        ),
        max_size=5,
    )
)
def test_valid_payload_keeps_every_sample(
    families: dict[str, tuple[str, list[tuple[dict[str, str], float]]]],
) -> None:
    """A fully valid answer loses nothing: every entry becomes a sample with its exact value."""
    body = {
        name: {
            "type": kind,
            "help": "h",
            "data": [{"labels": labels, "value": value} for labels, value in data],
        }
        for name, (kind, data) in families.items()
    }
    parsed = parse_metrics(roundtrip({"metrics": body}))
    assert parsed.skipped == 0
    expected = [
        (name, kind, tuple(labels.items()), float(value))
        for name, (kind, data) in families.items()
        for labels, value in data
    ]
    assert [(s.name, s.kind, s.labels, s.value) for s in parsed.samples] == expected
