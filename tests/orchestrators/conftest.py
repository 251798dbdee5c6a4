"""The orchestrator tests need the ``orchestrators`` extra (apache-airflow-client, prefect).

On a laptop without it they skip, saying what to install; in CI (``CI=true``) they fail, since
``.ci/run`` installs the extra.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from weirflow.testing.pytest_plugin import skip_or_fail


def require(module: str) -> ModuleType:
    """``module`` imported, or the calling test skipped (failed in CI) naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        skip_or_fail(
            f"{module} is not installed ({error}); install the extra: "
            ".venv/bin/pip install -e '.[orchestrators]'"
        )
