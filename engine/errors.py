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


class StyleError(KillahError):
    """A style action has none of the writer's paragraphs to follow (no style memory, paused, empty,
    or nothing in it like the text)."""


# What "Rephrase in my style" needs, said the same way by the engine's refusal and the app's disabled
# menu entry and dialog toggle.
STYLE_MEMORY_NEEDED = (
    "Rephrase in my style needs your style memory: add documents you wrote with "
    "Tools → Add a folder to the style memory…"
)
