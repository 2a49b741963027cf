"""Prefect flows, one per pipeline stage, each mirroring a `dvc.yaml` stage.

Importing `tasks` first applies the project's Prefect settings before Prefect
loads. Prefect attaches its handlers to the `r1router` logger (settings in
`tasks`), but the logger also needs a level, or the core's progress lines (rate,
ETA) would be filtered out before reaching Prefect's run logs and the terminal.
"""

import logging

import tasks  # noqa: F401

logging.getLogger("r1router").setLevel(logging.INFO)
