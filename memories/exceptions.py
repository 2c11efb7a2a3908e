"""Domain errors of the memory service; api/errors.py maps each to the one JSON error shape."""


class MemoryServiceError(Exception):
    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class AgentNotFound(MemoryServiceError):
    code = "agent_not_found"


class MemoryNotFound(MemoryServiceError):
    code = "memory_not_found"


class BatchNotFound(MemoryServiceError):
    code = "batch_not_found"


class AgentAlreadyExists(MemoryServiceError):
    code = "agent_exists"


class InvalidInput(MemoryServiceError):
    code = "invalid_request"


class MemoryAlreadyEmbedded(MemoryServiceError):
    """A retry asked for a memory that has its vector already."""

    code = "already_embedded"


class SessionNotFound(MemoryServiceError):
    """No memory of the account holds this session id."""

    code = "session_not_found"
