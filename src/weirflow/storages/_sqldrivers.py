"""Which database drivers are installed, for the hints of a wrong ``sql`` storage URL.

A URL naming a driver that is not installed (``postgresql+psycopg2://`` where only psycopg 3 is)
or a dialect SQLAlchemy does not know (``postgres://``, Heroku's spelling) gets a hint with a
URL that works here: :func:`url_hint` looks the drivers up without importing them.
"""

from __future__ import annotations

import importlib.util

# backend -> (SQLAlchemy driver name, module), preferred first.
DRIVERS: dict[str, tuple[tuple[str, str], ...]] = {
    "postgresql": (("psycopg", "psycopg"), ("psycopg2", "psycopg2"), ("pg8000", "pg8000")),
    "mysql": (("mysqldb", "MySQLdb"), ("pymysql", "pymysql")),
    "mariadb": (("mysqldb", "MySQLdb"), ("pymysql", "pymysql")),
    "sqlite": (("pysqlite", "sqlite3"),),
}
# Names people write for a backend.
BACKENDS = {
    "postgres": "postgresql",
    "pg": "postgresql",
    "pgsql": "postgresql",
    "psql": "postgresql",
    "postgresl": "postgresql",
    "sqlite3": "sqlite",
}
_EXAMPLES = {
    "postgresql": "user:password@localhost:5432/database",
    "mysql": "user:password@localhost:3306/database",
    "mariadb": "user:password@localhost:3306/database",
}


def installed_drivers(backend: str) -> list[str]:
    """The SQLAlchemy driver names of ``backend`` whose module is installed, preferred first.

    Example:
        >>> installed_drivers("sqlite")
        ['pysqlite']
    """
    found = []
    for driver, module in DRIVERS.get(backend, ()):
        try:
            if importlib.util.find_spec(module) is not None:
                found.append(driver)
        except (ImportError, ValueError):
            continue
    return found


def url_hint(drivername: str) -> str:
    """A sentence suggesting a URL for ``drivername`` (``postgres``, ``postgresql+psycopg2``).

    Example:
        >>> url_hint("sqlite3")
        "write 'sqlite:///data/weirflow.sqlite'"
    """
    backend = drivername.partition("+")[0].lower()
    backend = BACKENDS.get(backend, backend)
    if backend == "sqlite":
        return "write 'sqlite:///data/weirflow.sqlite'"
    drivers = installed_drivers(backend)
    example = _EXAMPLES.get(backend)
    if drivers and example:
        others = f" (also installed: {', '.join(drivers[1:])})" if drivers[1:] else ""
        return f"write '{backend}+{drivers[0]}://{example}'{others}"
    if example:
        modules = ", ".join(module for _, module in DRIVERS[backend])
        extra = (
            " (pip install 'weirflow[postgres]' gives psycopg)" if backend == "postgresql" else ""
        )
        return (
            f"no {backend} driver is installed: install one of {modules}{extra} and write "
            f"'{backend}+<driver>://{example}'"
        )
    return (
        "use e.g. 'sqlite:///data/weirflow.sqlite' or "
        f"'postgresql+{(installed_drivers('postgresql') or ['psycopg'])[0]}://user:password@host/db'"
    )
