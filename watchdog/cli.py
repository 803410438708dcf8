"""The `watchdog` command: run, check, demo, simulate, config.

Exit codes follow monitoring-plugin habits where they apply: 2 also means "bad configuration",
which is what a process supervisor should see when the settings cannot be used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TextIO

import yaml

from watchdog.app import api_clients, build_watchdog
from watchdog.base.durations import parse_duration
from watchdog.base.errors import ConfigError
from watchdog.base.log import configure_logging, get_logger
from watchdog.base.redact import Redactor
from watchdog.check import check_once, exit_code, render_table, wants_colour
from watchdog.config.fields import secret_values
from watchdog.config.settings import Settings, load_settings
from watchdog.config.sharding import select_shard
from watchdog.demo import DEMO_KEY, DEMO_PASSWORD, DemoKind, demo_scenarios, run_demo
from watchdog.memory import collect_on_schedule, tune_allocator
from watchdog.reload import daemon_reloader
from watchdog.simulator import (
    DESCRIPTIONS,
    GRAPH_DESCRIPTIONS,
    Deployment,
    GraphConfig,
    GraphDeployment,
    GraphScenario,
    KeyScope,
    Scenario,
    SimulatorConfig,
    Topology,
    serve_graph,
    serve_simulator,
)
from watchdog.simulator.graph import DEMO_TOKEN, PHONE_NUMBER_ID, WABA_ID
from watchdog.web.access import protect
from watchdog.web.routes import create_app
from watchdog.web.serving import bind, serve
from watchdog.web.tls import ServerTls, TlsFileError

EXIT_OK = 0
EXIT_CONFIG = 2


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1: {text!r}")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watchdog",
        description="Monitoring agent for WhatsApp Business On-Premises API deployments.",
        epilog="Configuration comes from WA_* / WATCHDOG_* environment variables and an "
        "optional YAML file (WATCHDOG_CONFIG_FILE); see README.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="run the daemon: poll, export /metrics, serve probes, alert")
    check = sub.add_parser(
        "check", help="poll every target once and report (exit 0 ok, 1 warning, 2 critical)"
    )
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    demo = sub.add_parser("demo", help="the simulator and the watchdog on localhost, no set-up")
    demo.add_argument(
        "--kind",
        choices=[k.value for k in DemoKind],
        default="onprem",
        help="onprem (default): an On-Premises deployment; cloud: a Cloud API number (the Graph "
        "simulator); both: one of each side by side, as during a migration",
    )
    # One list for both kinds; demo_scenarios refuses a name the chosen kind does not play.
    demo.add_argument(
        "--scenario",
        choices=list(
            dict.fromkeys([*(s.value for s in Scenario), *(s.value for s in GraphScenario)])
        ),
        default="healthy",
        help="what the simulator plays; with --kind both, the simulator of that scenario's kind "
        "plays it and the other stays healthy",
    )
    demo.add_argument("--topology", choices=[t.value for t in Topology], default="ha")
    demo.add_argument("--listen", default="127.0.0.1:9877", help="where the watchdog serves")
    demo.add_argument(
        "--webapps", type=_positive, default=1, help="Webapps behind the simulated load balancer"
    )
    sub.add_parser("config", help="validate and print the effective configuration")
    _simulate_parser(sub.add_parser("simulate", help="serve the WhatsApp API simulator alone"))
    return parser


def _simulate_parser(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Serve a simulated WhatsApp Business On-Premises API (monitoring endpoints), or with "
        "--kind cloud the Cloud API (Meta Graph API)."
    )
    p.epilog = (
        "Scenarios: "
        + "; ".join(f"{s.value}: {d}" for s, d in DESCRIPTIONS.items())
        + ". Cloud API scenarios (--kind cloud): "
        + "; ".join(f"{s.value}: {d}" for s, d in GRAPH_DESCRIPTIONS.items())
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9876, help="port to listen on (default 9876)")
    p.add_argument(
        "--kind",
        choices=["onprem", "cloud"],
        default="onprem",
        help="onprem (default): the On-Premises API; cloud: the Cloud API (Meta Graph API), "
        "which takes only --graph-token, --phone-number-id, --waba-id and --scenario",
    )
    p.add_argument("--topology", choices=[t.value for t in Topology], default="single")
    p.add_argument("--coreapps", type=int, default=3, help="coreapp nodes (ha, multiconnect)")
    p.add_argument("--shards", type=int, default=2, help="connected shards (multiconnect)")
    # One list for both kinds; cmd_simulate refuses a name of the other kind.
    names = dict.fromkeys([*(s.value for s in Scenario), *(s.value for s in GraphScenario)])
    p.add_argument("--scenario", choices=list(names), default="healthy")
    p.add_argument(
        "--graph-token",
        help="cloud: the access token the simulated Graph accepts "
        "(default: $WA_CLOUD_ACCESS_TOKEN, else the well-known demo token)",
    )
    p.add_argument(
        "--phone-number-id",
        action="append",
        help=f"cloud: a phone number id; repeat for several (default {PHONE_NUMBER_ID})",
    )
    p.add_argument("--waba-id", default=WABA_ID, help=f"cloud: the WABA id (default {WABA_ID})")
    p.add_argument(
        "--webapps",
        type=_positive,
        default=1,
        help="Webapps behind a round-robin load balancer, each with its own host name, "
        "counters and restarts (default 1)",
    )
    p.add_argument(
        "--api-key",
        help="the WA_API_KEY the simulated API accepts (default: $WA_API_KEY, else the "
        "well-known demo key; prefer the variable: arguments show in `ps`)",
    )
    p.add_argument("--username", default="admin", help="user for POST /v1/users/login")
    p.add_argument(
        "--password", help="that user's password (default: $WA_WEB_PASSWORD, else the demo one)"
    )
    p.add_argument(
        "--token-lifetime",
        type=_duration,
        default="168h",
        help="bearer token lifetime (default 168h, 7 days)",
    )
    p.add_argument(
        "--token-leeway", type=_duration, default="600s", help="clock skew allowed on expiry"
    )
    p.add_argument(
        "--password-change-required",
        action="store_true",
        help="the first login must set a new password (401/1024 without new_password)",
    )
    p.add_argument(
        "--key-scope",
        choices=[k.value for k in KeyScope],
        default="all",
        help="health_only: refuse the key on /metrics and stats with 403/1005 (older versions)",
    )
    p.add_argument("--api-version", default="v2.45.1", help="meta.version to report")
    p.add_argument("--slow-delay", type=_duration, default="3s", help="delay in the slow scenario")
    p.add_argument("--flap-period", type=_duration, default="30s", help="half-period of flapping")
    p.add_argument("--max-concurrency", type=int, default=32, help="requests in flight before 503")
    p.add_argument("--seed", type=int, default=0, help="seed for node names and randomness")
    p.add_argument(
        "--deployments",
        type=int,
        default=0,
        help="serve N deployments under /wa-0/ ... /wa-<N-1>/ instead of one at / (scale tests)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--log-format", default="auto", choices=["auto", "json", "console"])


def _load(environ: Mapping[str, str], err: TextIO) -> Settings | None:
    try:
        return load_settings(environ)
    except ConfigError as exc:
        for message in exc.messages:
            print(f"configuration error: {message}", file=err)
        return None


def cmd_config(environ: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    settings = _load(environ, err)
    if settings is None:
        return EXIT_CONFIG
    yaml.safe_dump(settings.effective(), out, sort_keys=False, default_flow_style=False)
    return EXIT_OK


def _configured(environ: Mapping[str, str], err: TextIO) -> tuple[Settings, Redactor] | None:
    """Settings plus logging with every configured secret registered for redaction."""
    settings = _load(environ, err)
    if settings is None:
        return None
    redactor = configure_logging(level=settings.log_level, fmt=settings.log_format)
    for secret in secret_values(settings):
        redactor.add(secret)
    return settings, redactor


def cmd_run(environ: Mapping[str, str], err: TextIO) -> int:
    configured = _configured(environ, err)
    if configured is None:
        return EXIT_CONFIG
    settings, redactor = configured
    tls = None
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        try:
            tls = ServerTls(settings.tls_cert_file, settings.tls_key_file)
        except TlsFileError as exc:  # the files changed since the settings were checked
            variable = "WATCHDOG_TLS_CERT_FILE" if exc.file == "cert" else "WATCHDOG_TLS_KEY_FILE"
            print(f"configuration error: {variable}: {exc}", file=err)
            return EXIT_CONFIG
    tune_allocator()  # a long-running daemon: flat RSS, short pauses (watchdog/memory.py)
    watchdog = build_watchdog(settings, redactor=redactor)
    collect_on_schedule(watchdog.poller)
    try:
        sock = bind(settings.listen_host, settings.listen_port)
    except OSError as exc:
        print(f"cannot listen on {settings.listen}: {exc.strerror or exc}", file=err)
        return EXIT_CONFIG
    reloader = daemon_reloader(watchdog, settings, environ, redactor)
    app = protect(create_app(watchdog, reloader=reloader), settings, redactor=redactor)
    serve(app, sock, tls=None if tls is None else tls.context)
    return EXIT_OK


def cmd_check(as_json: bool, environ: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    configured = _configured(environ, err)
    if configured is None:
        return EXIT_CONFIG
    settings, redactor = configured
    targets = select_shard(settings.targets, settings.shard_index, settings.shard_count)
    document = asyncio.run(
        check_once(targets, api_clients(settings, redactor), settings.alerts.expectation())
    )
    if as_json:
        json.dump(document, out, indent=2)
        out.write("\n")
    else:
        out.write(render_table(document, colour=wants_colour(out, environ)))
    return exit_code(document)


def cmd_simulate(args: argparse.Namespace, environ: Mapping[str, str], err: TextIO) -> int:
    kinds = {"onprem": Scenario, "cloud": GraphScenario}
    if args.scenario not in {s.value for s in kinds[args.kind]}:
        print(f"--scenario {args.scenario} is not a scenario of --kind {args.kind}", file=err)
        return EXIT_CONFIG
    if args.kind == "cloud":
        return _simulate_cloud(args, environ, err)
    redactor = configure_logging(level=args.log_level, fmt=args.log_format)
    log = get_logger("watchdog.simulator")
    key = args.api_key or environ.get("WA_API_KEY") or DEMO_KEY
    password = args.password or environ.get("WA_WEB_PASSWORD") or DEMO_PASSWORD
    redactor.add(key)
    redactor.add(password)
    config = SimulatorConfig(
        topology=Topology(args.topology),
        coreapps=args.coreapps,
        shards=args.shards,
        scenario=Scenario(args.scenario),
        api_key=key,
        users={args.username: password},
        token_lifetime=args.token_lifetime,
        token_leeway=args.token_leeway,
        key_scope=KeyScope(args.key_scope),
        password_change_required=args.password_change_required,
        webapps=args.webapps,
        version=args.api_version,
        slow_delay=args.slow_delay,
        flap_period=args.flap_period,
        max_concurrency=args.max_concurrency,
        seed=args.seed,
    )
    url = f"http://{args.host}:{args.port}"
    if key == DEMO_KEY and args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("simulator_demo_key_exposed", host=args.host)
    if args.deployments > 0:
        deployments = {
            f"wa-{i}": Deployment(replace(config, seed=args.seed + i))
            for i in range(args.deployments)
        }
        log.info(
            "simulator_starting",
            urls=f"{url}/wa-0 ... {url}/wa-{args.deployments - 1}",
            topology=args.topology,
            scenario=args.scenario,
        )
        serve_simulator(deployments, args.host, args.port)
        return EXIT_OK
    deployment = Deployment(config)
    log.info(
        "simulator_starting",
        url=url,
        topology=args.topology,
        scenario=args.scenario,
        nodes=[n.key for n in deployment.nodes],
        webapps=[w.host for w in deployment.webapps],
        demo_key=key == DEMO_KEY,
    )
    serve_simulator(deployment, args.host, args.port)
    return EXIT_OK


def _simulate_cloud(args: argparse.Namespace, environ: Mapping[str, str], err: TextIO) -> int:
    redactor = configure_logging(level=args.log_level, fmt=args.log_format)
    log = get_logger("watchdog.simulator")
    token = args.graph_token or environ.get("WA_CLOUD_ACCESS_TOKEN") or DEMO_TOKEN
    redactor.add(token)
    try:
        config = GraphConfig(
            token=token,
            phone_number_ids=tuple(args.phone_number_id or (PHONE_NUMBER_ID,)),
            waba_id=args.waba_id,
            scenario=GraphScenario(args.scenario),
        )
    except ValueError as exc:
        print(f"configuration error: {exc}", file=err)
        return EXIT_CONFIG
    if token == DEMO_TOKEN and args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("simulator_demo_token_exposed", host=args.host)
    log.info(
        "simulator_starting",
        url=f"http://{args.host}:{args.port}",
        kind="cloud",
        scenario=args.scenario,
        phone_number_ids=list(config.phone_number_ids),
        waba_id=config.waba_id,
        demo_token=token == DEMO_TOKEN,
    )
    serve_graph(GraphDeployment(config), args.host, args.port)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, err: TextIO) -> int:
    kind = DemoKind(args.kind)
    try:
        scenarios = demo_scenarios(kind, args.scenario)
    except ValueError as exc:
        print(exc, file=err)
        return EXIT_CONFIG
    redactor = configure_logging(level="info", fmt="console")
    return run_demo(
        kind, scenarios, Topology(args.topology), args.listen, args.webapps, redactor=redactor
    )


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Entry point of the `watchdog` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    env = os.environ if environ is None else environ
    stdout = out or sys.stdout
    stderr = err or sys.stderr
    if args.command == "simulate":
        return cmd_simulate(args, env, stderr)
    if args.command == "config":
        return cmd_config(env, stdout, stderr)
    if args.command == "check":
        return cmd_check(args.json, env, stdout, stderr)
    if args.command == "demo":
        return cmd_demo(args, stderr)
    return cmd_run(env, stderr)
