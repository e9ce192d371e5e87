"""Domain errors of balance_service; each maps onto the common envelope through its base class."""

from tollgate_common.errors import Conflict, InvalidInput, NotFound, Unavailable, UpstreamError


class WhmcsNotConfigured(Conflict):
    """No WHMCS URL and credentials have been saved yet."""

    code = "whmcs_not_configured"


class WhmcsError(UpstreamError):
    """WHMCS failed or answered something unusable."""

    code = "whmcs_error"


class WhmcsAuthError(WhmcsError):
    """WHMCS refused our credentials, IP or access key (HTTP 403)."""

    code = "whmcs_auth_error"


class WhmcsActionError(WhmcsError):
    """WHMCS answered result=error; `whmcs_message` is its exact text."""

    code = "whmcs_action_error"

    def __init__(self, action: str, whmcs_message: str):
        super().__init__(f"WHMCS {action}: {whmcs_message}", {"action": action, "whmcs_message": whmcs_message})
        self.whmcs_message = whmcs_message


class InsufficientCredit(WhmcsActionError):
    """AddCredit type=remove asked for more than the client's credit."""

    code = "insufficient_credit"


class WhmcsUnavailable(Unavailable):
    """WHMCS could not be reached, or a read kept failing; nothing was changed."""

    code = "whmcs_unavailable"


class WhmcsOutcomeUnknown(WhmcsError):
    """A write was sent but its reply was lost: it may or may not have been applied."""

    code = "whmcs_outcome_unknown"


class ClientNotFound(NotFound):
    code = "client_not_found"


class RunNotFound(NotFound):
    code = "run_not_found"


class InvalidSettings(InvalidInput):
    code = "invalid"
