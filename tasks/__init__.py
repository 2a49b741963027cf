"""Prefect tasks: thin, cached wrappers around `r1router` core functions.

Prefect reads its settings at import, so the project's defaults are set here,
before any task module imports Prefect: state and results live under the repo
(`.prefect/`), not the user's home, and the ephemeral API gets enough time to
start on a slow machine. Anything already set in the environment wins.
"""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
_DEFAULTS = {
    "PREFECT_HOME": str(_ROOT / ".prefect"),
    "PREFECT_LOCAL_STORAGE_PATH": str(_ROOT / ".prefect" / "storage"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_TO_API_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "r1router",
}
for _key, _value in _DEFAULTS.items():
    os.environ.setdefault(_key, _value)
