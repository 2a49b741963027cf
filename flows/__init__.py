"""Prefect flows, one per pipeline stage, each mirroring a `dvc.yaml` stage.

Importing `tasks` first applies the project's Prefect settings before Prefect loads.
"""

import tasks  # noqa: F401
