"""Domain errors of rating_service, each mapped to its HTTP status through tollgate_common's table."""

from __future__ import annotations

from tollgate_common.errors import Conflict, InvalidInput, NotFound


class TariffNotFound(NotFound):
    code = "tariff_not_found"


class TariffVersionNotFound(NotFound):
    code = "tariff_version_not_found"


class PackageNotFound(NotFound):
    code = "package_not_found"


class TariffNameTaken(Conflict):
    code = "tariff_name_taken"


class PackageConflict(Conflict):
    code = "package_conflict"


class DeckRejected(InvalidInput):
    """A rate deck had bad lines (or could not be read); nothing was imported."""

    code = "deck_rejected"


class InvalidFilter(InvalidInput):
    code = "invalid_filter"
