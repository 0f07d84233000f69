"""The engine on its own QThread: the UI sends requests and gets pieces back as signals.

    client = EngineClient()              # starts the thread
    client.load("gemma3-270m")           # or EngineClient(engine=existing_engine)
    rid = client.request("autocomplete", text_before_cursor)
    client.piece.connect(lambda rid, text: ...)
    client.cancel(rid)                   # takes effect within one token
    rid = client.request_tidy(transcript, text_before)   # dictation clean-up: one piece, then finished
    client.warm(text_before_cursor)      # incremental prefill while typing: supersedes the last warm-up

The engine serializes requests itself; the worker runs them one at a time in
arrival order and skips any that were cancelled while waiting, so a burst of
keystrokes costs one model call, not one per key.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.refcount_guard import pin_singletons
from engine.cancel import CancelToken
from engine.errors import KillahError

log = logging.getLogger("killah.app")

MODES = ("autocomplete", "continue", "rephrase")
# Autocomplete and Continue see only the text near the cursor (engine/prompts.py keeps ~1,500
# characters, cut at a boundary that depends only on the text's end). Sending a long tail, not the
# whole book, keeps each request small and under the engine's input limit, and gives the same prompt.
CONTEXT_TAIL_CHARS = 16_000
PersonaProvider = Callable[[str], Any]  # text before the cursor -> persona (soft tokens) or None


# engine.cancel imports no torch: the window appears at once.
RequestToken = CancelToken


class EngineWorker(QObject):
    """Lives on the engine thread; every slot runs there."""

    progress = Signal(str, float)
    loaded = Signal(str)  # a one-line description of the model
    loadFailed = Signal(str)
    piece = Signal(int, str)
    # Autocomplete only, sent before each piece: the suggestion's mean log-prob per token so far.
    scored = Signal(int, float)
    finished = Signal(int, object)  # request id, GenerationStats (None if skipped)
    failed = Signal(int, str)
    candidates = Signal(int, object)  # request id, engine.quality.best_of_n.CandidateSet (best first)
    styled = Signal(int, object)  # request id, engine.persona.StyleContext: what conditioned it
    takesProgress = Signal(int, int, int)  # request id, sentences rewritten, sentences in all (a passage)

    def __init__(self, engine: Any = None) -> None:
        super().__init__()
        self.engine = engine
        self.min_p: dict[str, float] = {}
        self.persona_provider: PersonaProvider | None = None
        # The style memory the engine retrieves exemplars from (None: style off), and the document
        # being edited: with the paragraph it keys the engine's cache of chosen exemplars.
        self.style_memory: Any = None
        self.style_document = ""
        # The writer's style memory for the action that asks for it by name (Rephrase in my style),
        # whether or not "Write in my style" conditions the other requests: called when needed.
        self.memory_provider: Callable[[], Any] | None = None

    @Slot(str, str)
    def load(self, spec: str, backend: str = "") -> None:
        try:
            from engine.api import Engine

            backend = choose_backend(backend)
            self.engine = Engine(
                spec or None, backend=backend, progress=lambda stage, frac: self.progress.emit(stage, float(frac))
            )
        except KillahError as exc:
            self.loadFailed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the editor must keep working without a model
            log.exception("model load failed")
            self.loadFailed.emit(f"The model could not be loaded ({type(exc).__name__}: {exc}).")
            return
        self.loaded.emit(describe(self.engine))

    @Slot(int, str, str, object)
    def run(self, request_id: int, mode: str, text: str, token: Any) -> None:
        def start() -> Iterator[str]:
            method = {"autocomplete": self.engine.complete, "continue": self.engine.continue_text,
                      "rephrase": self.engine.rephrase}[mode]
            kwargs = self._request_kwargs(mode, text, token)
            stream = method(text, **kwargs)
            if "style" in kwargs:  # the prompt is built: the engine says what conditioned it
                self.styled.emit(request_id, getattr(self.engine, "last_style", None))
            return stream

        self._serve(request_id, token, mode, "Generation", start)

    @Slot(int, str, object)
    def warm(self, request_id: int, text: str, token: Any) -> None:
        """Incremental prefill (Engine.prefill) for the autocomplete the pause will ask for.

        The same prompt as that request (persona, style), so its positions are the ones reused.
        Nothing comes back but ``finished``; a failure is only logged (the request will say it).
        """
        if not token.cancelled and self.engine is not None:
            try:
                self.engine.prefill(text, **self._request_kwargs("autocomplete", text, token))
            except KillahError:
                pass  # e.g. blank text: the request for it is refused with the message
            except Exception:  # noqa: BLE001 - a failed warm-up must not kill the thread
                log.exception("warm-up %s failed", request_id)
        self.finished.emit(request_id, None)

    def _request_kwargs(self, mode: str, text: str, token: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"cancel": token}
        params = self._params(mode)
        if params is not None:
            kwargs["params"] = params
        persona = self._persona(text) if mode != "rephrase" else None
        if persona is not None:
            kwargs["persona"] = persona
        style = self._style_request()
        if style is not None:
            kwargs["style"] = style
        return kwargs

    @Slot(int, str, int, object)
    def rephrase_takes(self, request_id: int, text: str, n: int, token: Any) -> None:
        """Best-of-n Rephrase: the first take streams as pieces, then one ``candidates`` CandidateSet."""

        def start() -> Iterator[str]:
            found = self.engine.rephrase_candidates(
                text, n=n, cancel=token, on_piece=emit, on_progress=lambda d, t: self.takesProgress.emit(request_id, d, t)
            )
            self.candidates.emit(request_id, found)
            return iter(())

        def emit(piece: str) -> None:
            self.piece.emit(request_id, piece)

        self._serve(request_id, token, "rephrase", "Rephrase", start)

    @Slot(int, str, int, object)
    def rephrase_style_takes(self, request_id: int, text: str, n: int, token: Any) -> None:
        """Best-of-n "Rephrase in my style": as ``rephrase_takes``, on the writer's own paragraphs; ``styled``
        says which conditioned it. Without a style memory the engine refuses (``failed``), nothing generated.
        """

        def start() -> Iterator[str]:
            from engine.persona.exemplars import StyleRequest

            memory = self.style_memory or (self.memory_provider() if self.memory_provider else None)
            if self.engine.style_memory is not memory:
                self.engine.attach_style_memory(memory)
            found = self.engine.rephrase_in_style_candidates(
                text,
                style=StyleRequest(document=self.style_document),
                n=n,
                cancel=token,
                on_piece=emit,
                on_progress=lambda d, t: self.takesProgress.emit(request_id, d, t),
            )
            self.styled.emit(request_id, self.engine.last_style)
            self.candidates.emit(request_id, found)
            return iter(())

        def emit(piece: str) -> None:
            self.piece.emit(request_id, piece)

        self._serve(request_id, token, "rephrase_style", "Rephrase in my style", start)

    @Slot(int, str, int, object)
    def continue_take(self, request_id: int, text: str, take: int, token: Any) -> None:
        """Continue's "another take" number ``take``: streams like a Continue."""
        self._serve(
            request_id, token, "continue", "Generation",
            lambda: self.engine.continue_take(text, take, persona=self._persona(text), cancel=token),
        )

    @Slot(int, str, str, object)
    def tidy(self, request_id: int, transcript: str, context: str, token: Any) -> None:
        """Engine.tidy_dictation: one checked piece (the model's line or the rule-based clean-up)."""
        self._serve(
            request_id, token, "dictation", "Tidying",
            lambda: self.engine.tidy_dictation(transcript, context, cancel=token),
        )

    def _serve(
        self, request_id: int, token: Any, what: str, action: str, start: Callable[[], Iterator[str]]
    ) -> None:
        """Stream one request's pieces; every outcome ends in exactly one finished or failed signal."""
        if token.cancelled:
            self.finished.emit(request_id, None)
            return
        if self.engine is None:
            self.failed.emit(request_id, "The model is still loading.")
            return
        try:
            # No cancel check here: the engine stops within one token, and the UI drops
            # pieces of cancelled requests itself (signals already queued arrive anyway).
            for piece in start():
                if what == "autocomplete":
                    stats = getattr(self.engine, "last_stats", None)
                    self.scored.emit(request_id, float(getattr(stats, "mean_logprob", 0.0)))
                self.piece.emit(request_id, piece)
        except KillahError as exc:
            self.failed.emit(request_id, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - one failed request must not kill the thread
            log.exception("request %s (%s) failed", request_id, what)
            self.failed.emit(request_id, f"{action} failed ({type(exc).__name__}: {exc}).")
            return
        self.finished.emit(request_id, getattr(self.engine, "last_stats", None))

    def _params(self, mode: str) -> Any:
        min_p = self.min_p.get(mode)
        mode_params = getattr(self.engine, "mode_params", None)
        if min_p is None or mode_params is None:
            return None
        from engine.modes import Mode

        return mode_params[Mode(mode)].with_overrides(min_p=float(min_p))

    def _style_request(self) -> Any:
        if self.style_memory is None or not hasattr(self.engine, "attach_style_memory"):
            return None
        from engine.persona.exemplars import StyleRequest

        if self.engine.style_memory is not self.style_memory:
            self.engine.attach_style_memory(self.style_memory)
        return StyleRequest(document=self.style_document)

    def _persona(self, text: str) -> Any:
        if self.persona_provider is None:
            return None
        try:
            return self.persona_provider(text)
        except Exception as exc:  # noqa: BLE001 - a broken style memory must not block writing
            log.warning("persona unavailable: %s", exc)
            return None


def choose_backend(requested: str = "") -> str:
    """The engine backend to load: $KILLAH_BACKEND, else the settings' choice, else "auto".

    "auto": each mode's adapter composition is served by its ExecuTorch program once that is
    built (in the background, on the mode's first use); eager PyTorch until then.
    """
    return os.environ.get("KILLAH_BACKEND") or requested or "auto"


def describe(engine: Any) -> str:
    info = getattr(engine, "info", None)
    name = getattr(info, "name", None) or type(engine).__name__
    backend = getattr(getattr(engine, "backend", None), "name", "")
    return f"{name} ({backend})" if backend and backend != "eager" else name


class EngineClient(QObject):
    """The UI side: owns the thread, hands out request ids and cancel tokens."""

    loadProgress = Signal(str, float)
    modelLoaded = Signal(str)
    loadFailed = Signal(str)
    piece = Signal(int, str)
    scored = Signal(int, float)  # request id, mean log-prob per token so far (autocomplete, before each piece)
    finished = Signal(int, object)
    failed = Signal(int, str)
    candidatesReady = Signal(int, object)  # request id, CandidateSet: the ranked takes of a Rephrase
    styleUsed = Signal(int, object)  # request id, StyleContext (exemplars and their documents, or why none)
    takesProgress = Signal(int, int, int)  # request id, sentences rewritten, sentences in all (a passage)
    _runRequested = Signal(int, str, str, object)
    _tidyRequested = Signal(int, str, str, object)
    _warmRequested = Signal(int, str, object)
    _takesRequested = Signal(int, str, int, object)
    _styleTakesRequested = Signal(int, str, int, object)
    _takeRequested = Signal(int, str, int, object)
    _loadRequested = Signal(str, str)

    def __init__(self, engine: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._token_type = RequestToken
        # The engine thread runs Python between torch calls; a 1 ms GIL switch interval
        # (default 5 ms) hands the GIL back to the UI thread sooner: measured stalls drop.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        pin_singletons()  # every emit costs True a reference in PySide6 6.12 (app/refcount_guard.py)
        self._thread = QThread()
        self._thread.setObjectName("killah-engine")
        self.worker = EngineWorker(engine)
        self.worker.moveToThread(self._thread)
        self._runRequested.connect(self.worker.run)
        self._tidyRequested.connect(self.worker.tidy)
        self._warmRequested.connect(self.worker.warm)
        self._takesRequested.connect(self.worker.rephrase_takes)
        self._styleTakesRequested.connect(self.worker.rephrase_style_takes)
        self._takeRequested.connect(self.worker.continue_take)
        self.worker.candidates.connect(self.candidatesReady)
        self.worker.takesProgress.connect(self.takesProgress)
        self._loadRequested.connect(self.worker.load)
        self.worker.progress.connect(self.loadProgress)
        self.worker.loaded.connect(self._on_loaded)
        self.worker.loadFailed.connect(self._on_load_failed)
        self.worker.piece.connect(self.piece)
        self.worker.scored.connect(self.scored)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.styled.connect(self.styleUsed)
        self._tokens: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._next_id = 0
        self._warm_id: int | None = None  # the warm-up a newer one (or a request) supersedes
        self.model_name = describe(engine) if engine is not None else ""
        self.load_error = ""
        self._thread.start()

    @property
    def ready(self) -> bool:
        return bool(self.model_name)

    @property
    def busy(self) -> bool:
        return bool(self._tokens)

    def load(self, spec: str | None = None, backend: str = "") -> None:
        """backend: "auto" (ExecuTorch programs when built), "eager", or "" for the default (auto)."""
        self._loadRequested.emit(spec or "", backend)

    def set_min_p(self, min_p: dict[str, float]) -> None:
        self.worker.min_p = dict(min_p)  # read by the worker at the start of each request

    def set_persona_provider(self, provider: PersonaProvider | None) -> None:
        self.worker.persona_provider = provider

    def set_style(self, memory: Any, document: str = "") -> None:
        """Condition autocomplete and continue on ``memory`` (an engine.persona.StyleMemory; None: off).

        The engine retrieves the exemplars itself; ``document`` names the document being edited.
        Read by the worker at the start of each request.
        """
        self.worker.style_memory = memory
        self.worker.style_document = document

    def set_style_memory_provider(self, provider: Callable[[], Any] | None) -> None:
        """Where "Rephrase in my style" gets the writer's style memory (a StyleService's ``memory``)."""
        self.worker.memory_provider = provider

    @property
    def style_on(self) -> bool:
        return self.worker.style_memory is not None

    def set_style_document(self, document: str) -> None:
        self.worker.style_document = document

    def new_request_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def request(self, mode: str, text: str, request_id: int | None = None) -> int:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        request_id = request_id if request_id is not None else self.new_request_id()
        self._cancel_warm()  # the request feeds the same text itself, from wherever the warm-up got
        if mode != "rephrase":
            text = text[-CONTEXT_TAIL_CHARS:]
        token = self._token_type()
        self._tokens[request_id] = token
        self._runRequested.emit(request_id, mode, text, token)
        return request_id

    def warm(self, text_before_cursor: str) -> int:
        """Incremental prefill while typing; supersedes the previous warm-up (cancelled, or skipped if
        it has not started), so a burst of keystrokes queues at most one prefill step of stale work."""
        self._cancel_warm()
        request_id = self.new_request_id()
        token = self._token_type()
        self._tokens[request_id] = token
        self._warm_id = request_id
        self._warmRequested.emit(request_id, text_before_cursor[-CONTEXT_TAIL_CHARS:], token)
        return request_id

    def _cancel_warm(self) -> None:
        if self._warm_id is not None:
            self.cancel(self._warm_id)
            self._warm_id = None

    def request_rephrase_takes(self, text: str, n: int = 3) -> int:
        """Best-of-n Rephrase: pieces of the first take, then candidatesReady, then finished."""
        return self._queue(self._takesRequested, text, n)

    def request_rephrase_style_takes(self, text: str, n: int = 3) -> int:
        """Best-of-n "Rephrase in my style": as request_rephrase_takes; styleUsed comes before candidatesReady."""
        return self._queue(self._styleTakesRequested, text, n)

    def request_continue_take(self, text: str, take: int) -> int:
        """Continue's "another take" (take 1, 2, …): pieces, then finished, like request("continue")."""
        return self._queue(self._takeRequested, text[-CONTEXT_TAIL_CHARS:], take)

    def _queue(self, signal, text: str, number: int) -> int:
        request_id = self.new_request_id()
        token = self._token_type()
        self._tokens[request_id] = token
        signal.emit(request_id, text, number, token)
        return request_id

    def request_tidy(self, transcript: str, context: str = "") -> int:
        """Tidy one dictated utterance (``context``: the text before it); the result comes as one piece."""
        request_id = self.new_request_id()
        token = self._token_type()
        self._tokens[request_id] = token
        self._tidyRequested.emit(request_id, transcript, context[-CONTEXT_TAIL_CHARS:], token)
        return request_id

    def cancel(self, request_id: int) -> None:
        token = self._tokens.get(request_id)
        if token is not None:
            token.cancel()

    def cancel_all(self) -> None:
        for token in list(self._tokens.values()):
            token.cancel()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel everything and stop the thread (the current token finishes first)."""
        self.cancel_all()
        self._thread.quit()
        self._thread.wait(timeout_ms)

    # -- completions of requests ----------------------------------------------

    def _on_loaded(self, name: str) -> None:
        self.model_name = name
        self.modelLoaded.emit(name)

    def _on_load_failed(self, message: str) -> None:
        self.load_error = message
        self.loadFailed.emit(message)

    def _on_finished(self, request_id: int, stats: object) -> None:
        self._tokens.pop(request_id, None)
        self.finished.emit(request_id, stats)

    def _on_failed(self, request_id: int, message: str) -> None:
        self._tokens.pop(request_id, None)
        self.failed.emit(request_id, message)


class CompletionSourceAdapter:
    """Lets the CompletionController talk to an EngineClient (ids are the controller's own)."""

    def __init__(self, client: EngineClient) -> None:
        self.client = client
        self._ids: dict[int, int] = {}  # controller id -> client id
        self._back: dict[int, int] = {}

    def request_completion(self, request_id: int, prefix: str) -> None:
        if not self.client.ready:
            return
        client_id = self.client.request("autocomplete", prefix)
        self._ids[request_id] = client_id
        self._back[client_id] = request_id

    def cancel(self, request_id: int) -> None:
        client_id = self._ids.pop(request_id, None)
        if client_id is not None:
            self.client.cancel(client_id)

    def warm(self, prefix: str) -> None:
        if self.client.ready:
            self.client.warm(prefix)

    def controller_id(self, client_id: int) -> int | None:
        return self._back.get(client_id)

    def forget(self, client_id: int) -> None:
        request_id = self._back.pop(client_id, None)
        if request_id is not None:
            self._ids.pop(request_id, None)
