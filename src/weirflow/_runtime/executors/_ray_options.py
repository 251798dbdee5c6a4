"""The options of a ray stage's actors, checked when the stage is made (nothing here needs Ray).

A stage's actors are placed with the options Ray's ``.options()`` takes for resources and
environment: :data:`RAY_OPTIONS`. :func:`check_ray_options` normalises them or raises
:class:`~weirflow.InvalidArgumentError` (a :class:`~weirflow.ConfigError`) naming the stage, the
option and, for a misspelt name, "did you mean".

Example:
    >>> check_ray_options({"num_cpus": 0.5}, "stage 'p.core_logic'")
    {'num_cpus': 0.5}
    >>> try:
    ...     check_ray_options({"num_cpu": 2}, "stage 'p.core_logic'")
    ... except ValueError as error:
    ...     print(str(error).split(";")[0])
    stage 'p.core_logic': unknown Ray option 'num_cpu' (did you mean 'num_cpus'?)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._checks import check_positive_number
from ..._errors import InvalidArgumentError
from ..._hints import did_you_mean, shown

RAY_OPTIONS = ("accelerator_type", "memory", "num_cpus", "num_gpus", "resources", "runtime_env")
DEFAULT_NUM_CPUS = 1.0
MAX_UNITS = 1_000_000.0  # CPUs, GPUs or units of a custom resource per actor


def check_ray_options(options: Any, where: str) -> dict[str, Any]:
    """``options`` as a dict of Ray actor options, or :class:`~weirflow.InvalidArgumentError`."""
    if not isinstance(options, Mapping):
        raise InvalidArgumentError(
            f"{where}: Ray options must be a dict such as {{'num_cpus': 0.5}}, got {shown(options)}"
        )
    checked: dict[str, Any] = {}
    for name, value in options.items():
        if name not in RAY_OPTIONS:
            raise InvalidArgumentError(
                f"{where}: unknown Ray option {shown(name)}{did_you_mean(name, RAY_OPTIONS)}; "
                f"the options are {', '.join(RAY_OPTIONS)}"
            )
        if value is None:
            continue
        checked[name] = _checked(name, value, where)
    return checked


def _checked(name: str, value: Any, where: str) -> Any:
    if name in ("num_cpus", "num_gpus"):
        return check_positive_number(value, name, where=where, allow_zero=True, maximum=MAX_UNITS)
    if name == "memory":
        return check_positive_number(value, name, where=where, meaning="bytes")
    if name == "resources":
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise InvalidArgumentError(
                f"{where}: resources must be a dict of resource name to amount, such as "
                f"{{'accelerator': 1}}, got {shown(value)}"
            )
        return {
            key: check_positive_number(
                amount, f"resources[{key!r}]", where=where, allow_zero=True, maximum=MAX_UNITS
            )
            for key, amount in value.items()
        }
    if name == "runtime_env":
        if not isinstance(value, Mapping):
            raise InvalidArgumentError(
                f"{where}: runtime_env must be a dict (Ray's runtime environment, such as "
                f"{{'env_vars': {{'MODE': 'fast'}}}}), got {shown(value)}"
            )
        return dict(value)
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{where}: {name} must be a string, got {shown(value)}")
    return value


def actor_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``.options()`` of a stage's actors: its checked options, one CPU unless told."""
    return {"num_cpus": DEFAULT_NUM_CPUS, **options}
