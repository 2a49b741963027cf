"""Screenshots of what a reviewer sees, from copies of this checkout's MLflow and Prefect stores.

    python scripts/browse_screenshots.py --out /tmp/screens [--chromium chromium]

Copies `mlflow.db` + `mlartifacts/` and `.prefect/` to a temporary directory
(the real stores are never opened for writing), serves them with `mlflow ui`
and `prefect server start` on free loopback ports, and takes headless
Chromium screenshots (Debian's `chromium` package) of:
  1. the MLflow runs table of the `evaluate` run's method runs (Table 1's rows),
  2. one method run (step-grpo, else the last method),
  3. the `evaluate` stage run (Table 1's metrics, artifacts, datasets),
  4. the Prefect flow run of `evaluate` (its logs and named task runs).
Prints the page URLs and the PNG paths; the last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import mlflow

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not come up in {timeout:.0f} s")


def screenshot(chromium: str, url: str, target: Path) -> Path:
    subprocess.run(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1600,1000",
            "--virtual-time-budget=25000",
            f"--screenshot={target}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="r1router-browse-"))
    shutil.copy2("mlflow.db", work / "mlflow.db")
    shutil.copytree("mlartifacts", work / "mlartifacts")
    shutil.copytree(".prefect", work / ".prefect", ignore=shutil.ignore_patterns("*.lock", "server.pid"))

    mlflow_port, prefect_port = free_port(), free_port()
    env = {**os.environ, "PREFECT_HOME": str(work / ".prefect")}
    env |= {"PREFECT_UI_API_URL": f"http://127.0.0.1:{prefect_port}/api", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    servers = [
        subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "ui",
                "--backend-store-uri",
                f"sqlite:///{work / 'mlflow.db'}",
                "--artifacts-destination",
                str(work / "mlartifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(mlflow_port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        mlflow_url, prefect_url = f"http://127.0.0.1:{mlflow_port}", f"http://127.0.0.1:{prefect_port}"
        wait_for(mlflow_url)
        wait_for(f"{prefect_url}/api/health")
        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{work / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("r1router").experiment_id
        [evaluate] = client.search_runs(
            [experiment], "tags.stage = 'evaluate'", max_results=1, order_by=["attributes.start_time DESC"]
        )
        methods = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{evaluate.info.run_id}'")
        method = next((r for r in methods if r.data.tags.get("method") == "step-grpo"), methods[-1])
        flow_runs = httpx.post(
            f"{prefect_url}/api/flow_runs/filter",
            json={"flows": {"name": {"any_": ["evaluate"]}}, "sort": "START_TIME_DESC", "limit": 1},
        ).json()
        search = quote(f"tags.`mlflow.parentRunId` = '{evaluate.info.run_id}'")
        pages = {
            "mlflow_runs_table": f"{mlflow_url}/#/experiments/{experiment}?searchFilter={search}"
            "&workflowType=machine_learning",
            "mlflow_method_run": f"{mlflow_url}/#/experiments/{experiment}/runs/{method.info.run_id}",
            "mlflow_evaluate_run": f"{mlflow_url}/#/experiments/{experiment}/runs/{evaluate.info.run_id}",
        }
        if flow_runs:
            pages["prefect_evaluate_flow_run"] = f"{prefect_url}/runs/flow-run/{flow_runs[0]['id']}"
        shots = {name: str(screenshot(args.chromium, url, args.out / f"{name}.png")) for name, url in pages.items()}
        for name, url in pages.items():
            print(f"{name}: {url} -> {shots[name]}")
        print(json.dumps({"pages": pages, "screenshots": shots, "method_run": method.info.run_id}))
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
