"""deploy/: the alert rules pass promtool, and every metric the rules and the Grafana
dashboard name is one the service exports; the scrape-time probes report."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from service.ops import probes
from tests.conftest import PollMaker

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "civicpoll.json"
_NAME = re.compile(r"\bcivicpoll_[a-z_]+")
_SERIES_SUFFIXES = ("_bucket", "_sum", "_count", "_total")


def _exported_families(text: str) -> set[str]:
    return set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))


def _family(series: str, families: set[str]) -> str | None:
    if series in families:
        return series
    for suffix in _SERIES_SUFFIXES:
        if series.endswith(suffix) and series.removesuffix(suffix) in families:
            return series.removesuffix(suffix)
    return None


def _dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def test_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing in CI: make test runs scripts/promtool-deps.sh")
        pytest.skip("no promtool (scripts/promtool-deps.sh installs it)")
    done = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


def test_every_alert_has_a_runbook_section() -> None:
    text = RULES.read_text()
    anchors = re.findall(r"runbook_url: \S+#([a-z-]+)", text)
    assert len(anchors) == text.count("- alert:")
    page = (Path(__file__).resolve().parents[2] / "docs/operations/monitoring.md").read_text()
    headings = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^### (.+)$", page, re.MULTILINE)
    }
    assert set(anchors) <= headings, set(anchors) - headings


async def test_every_metric_named_in_deploy_is_exported(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    voted = await client.post(
        f"/v1/polls/{poll['id']}/votes",
        json={"choices": [poll["options"][0]["id"]]},
        headers={"Cookie": "pv=" + uuid.uuid4().hex},
    )
    assert voted.status_code == 201, voted.text
    families = _exported_families((await client.get("/metrics")).text)
    named = set(_NAME.findall(RULES.read_text()))
    for expr in _dashboard_exprs():
        named |= set(_NAME.findall(expr))
    assert len(named) >= 10
    missing = sorted(n for n in named if _family(n, families) is None)
    assert missing == [], f"named in deploy/ but not exported: {missing}"


async def test_probes_report_dependencies_and_the_moderation_queue(
    client: httpx.AsyncClient, make_poll: PollMaker, state: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probes, "PROBE_EVERY", 0.0)  # look at every scrape in this test
    poll = await make_poll(comments="premoderated")
    said = await client.post(
        f"/v1/polls/{poll['id']}/comments",
        json={"body": "Cần công khai chi phí dự án."},
        headers={"Origin": "https://portal.example.vn", "Cookie": "pv=" + uuid.uuid4().hex},
    )
    assert said.status_code == 202, said.text
    text = (await client.get("/metrics")).text
    assert 'civicpoll_dependency_up{dependency="postgres"} 1.0' in text
    assert 'civicpoll_dependency_up{dependency="redis"} 1.0' in text
    assert 'civicpoll_moderation_waiting{state="pending"} 1.0' in text
    oldest = re.search(r"^civicpoll_moderation_oldest_seconds (\S+)$", text, re.MULTILINE)
    assert oldest is not None and float(oldest.group(1)) >= 0.0
    await state.pool.execute("UPDATE comments SET state = 'published'")  # type: ignore[attr-defined]
    text = (await client.get("/metrics")).text
    assert 'civicpoll_moderation_waiting{state="pending"} 0.0' in text
    assert "civicpoll_moderation_oldest_seconds 0.0" in text
