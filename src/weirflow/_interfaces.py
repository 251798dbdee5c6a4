"""The extension interfaces under their former private name; they live in :mod:`weirflow.abc`.

Kept so that ``from weirflow._interfaces import Storage`` (and the other names) keeps working.
"""

from .abc import Delivery as Delivery
from .abc import Extension as Extension
from .abc import Sender as Sender
from .abc import Source as Source
from .abc import Storage as Storage

__all__ = ["Delivery", "Extension", "Sender", "Source", "Storage"]
