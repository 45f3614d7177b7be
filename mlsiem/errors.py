"""Errors a user sees. Each names the input and the problem; none carries a secret."""


class MlsiemError(Exception):
    """An error with a message meant for the person running mlsiem (printed without a traceback)."""


class ConfigError(MlsiemError):
    """Configuration that cannot be used as given."""


class EngineError(MlsiemError):
    """The search engine refused a request or could not be reached."""

    def __init__(self, message: str, status: int | None = None, body: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class EngineUnreachable(EngineError):
    """Nothing answered at the engine's address (refused, reset, timed out): it may come back later."""


class LocalEngineError(MlsiemError):
    """The local development engine could not be started, stopped or inspected."""
