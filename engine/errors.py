"""Errors the engine raises for bad input: each carries a message meant for the user."""


class KillahError(Exception):
    """Base class: the message is shown to the user as is (no traceback)."""


class ModelError(KillahError):
    """A model is missing, truncated, corrupt or of an unsupported architecture."""


class PromptError(KillahError):
    """The input text cannot be used as a prompt (empty, too large, not text)."""


class DocumentError(KillahError):
    """A document cannot be read: corrupt, encrypted, binary, too large, unknown format."""


class AudioError(KillahError):
    """Voice input is unavailable: no PortAudio, no device, device lost, permission denied."""


class ArtifactError(KillahError):
    """A trained artifact is missing, tampered with, or made for another base model."""
