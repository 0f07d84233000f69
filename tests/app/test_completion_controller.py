"""The completion state machine alone: a fake clock and a scripted engine, no Qt, no model."""

from __future__ import annotations

from app.completion import CompletionController, CursorContext, State


class FakeClock:
    """A Debouncer whose time only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 0
        self.deadline: int | None = None
        self.callback = None

    def start(self, delay_ms, callback) -> None:
        self.deadline, self.callback = self.now + delay_ms, callback

    def stop(self) -> None:
        self.deadline = None

    def advance(self, ms: int) -> None:
        self.now += ms
        if self.deadline is not None and self.now >= self.deadline:
            self.deadline = None
            self.callback()


class FakeEngine:
    def __init__(self) -> None:
        self.requests: list[tuple[int, str]] = []
        self.cancelled: list[int] = []
        self.warmed: list[str] = []

    def request_completion(self, request_id, prefix) -> None:
        self.requests.append((request_id, prefix))

    def cancel(self, request_id) -> None:
        self.cancelled.append(request_id)

    def warm(self, prefix) -> None:
        self.warmed.append(prefix)


def make(**kwargs):
    clock, engine, shown = FakeClock(), FakeEngine(), []
    controller = CompletionController(engine, clock, shown.append, **kwargs)
    return controller, clock, engine, shown


def typed(controller, text, right=""):
    controller.on_edit(CursorContext(text, right))


def answer(controller, engine, suggestion, finish=True):
    request_id = engine.requests[-1][0]
    controller.on_piece(request_id, suggestion)
    if finish:
        controller.on_finished(request_id)
    return request_id


def test_request_waits_for_the_debounce_pause():
    controller, clock, engine, _ = make(debounce_ms=150)
    typed(controller, "The quick bro")
    clock.advance(149)
    assert engine.requests == []
    clock.advance(1)
    assert engine.requests == [(1, "The quick bro")]
    assert controller.state is State.REQUESTING


def test_each_keystroke_restarts_the_pause_and_cancels_the_request_in_flight():
    controller, clock, engine, _ = make()
    typed(controller, "The quick")
    clock.advance(150)
    typed(controller, "The quick ")
    assert engine.cancelled == [1]
    clock.advance(100)
    typed(controller, "The quick b")
    clock.advance(100)
    assert len(engine.requests) == 1  # the pause restarted at the last key
    clock.advance(50)
    assert engine.requests[-1] == (2, "The quick b")


def test_typing_the_suggestions_next_characters_keeps_the_rest_without_a_new_request():
    controller, clock, engine, shown = make()
    typed(controller, "The quick bro")
    clock.advance(150)
    answer(controller, engine, "wn fox jumps.")
    assert controller.ghost == "wn fox jumps."
    typed(controller, "The quick brow")
    typed(controller, "The quick brown")
    assert controller.ghost == " fox jumps."
    clock.advance(1000)
    assert len(engine.requests) == 1
    assert shown[-1] == " fox jumps."


def test_a_mismatching_character_drops_the_ghost_and_asks_again():
    controller, clock, engine, shown = make()
    typed(controller, "The quick bro")
    clock.advance(150)
    answer(controller, engine, "wn fox.")
    typed(controller, "The quick brot")
    assert controller.ghost == "" and shown[-1] == ""
    clock.advance(150)
    assert engine.requests[-1] == (2, "The quick brot")


def test_a_piece_for_an_old_prefix_is_never_shown():
    controller, clock, engine, shown = make()
    typed(controller, "Once upon")
    clock.advance(150)
    old = engine.requests[-1][0]
    typed(controller, "Once upon a")  # the old request is now stale
    controller.on_piece(old, " time there was")
    controller.on_finished(old)
    assert controller.ghost == "" and all(s == "" for s in shown)
    clock.advance(150)
    answer(controller, engine, " time.")
    assert controller.ghost == " time."


def test_streamed_pieces_grow_the_ghost_and_matching_keys_keep_the_stream():
    controller, clock, engine, _ = make()
    typed(controller, "Hello")
    clock.advance(150)
    rid = answer(controller, engine, " wor", finish=False)
    typed(controller, "Hello w")  # matches what arrived so far: the request stays useful
    assert engine.cancelled == []
    controller.on_piece(rid, "ld.")
    assert controller.ghost == "orld."


def test_tab_accepts_everything_and_ctrl_right_one_word():
    controller, clock, engine, _ = make()
    typed(controller, "She opened the door")
    clock.advance(150)
    answer(controller, engine, " and walked in.")
    assert controller.accept_word() == " and"
    typed(controller, "She opened the door and")  # the editor inserted the word
    assert controller.ghost == " walked in."
    assert controller.accept_all() == " walked in."


def test_escape_dismisses_until_the_next_edit():
    controller, clock, engine, _ = make()
    typed(controller, "Hello")
    clock.advance(150)
    answer(controller, engine, " there.")
    controller.dismiss()
    assert controller.ghost == "" and controller.state is State.IDLE
    clock.advance(5000)
    assert len(engine.requests) == 1


def test_no_suggestion_in_the_middle_of_a_line_unless_configured():
    controller, clock, engine, _ = make()
    typed(controller, "Hello ", right="world")
    clock.advance(500)
    assert engine.requests == []
    controller.allow_mid_line = True
    typed(controller, "Hello ", right="world")
    clock.advance(500)
    assert engine.requests == []  # never inside a word, even when allowed
    typed(controller, "Hello", right=", world")
    clock.advance(150)
    assert engine.requests == [(1, "Hello")]


def test_moving_the_cursor_drops_the_ghost():
    controller, clock, engine, _ = make()
    typed(controller, "Hello")
    clock.advance(150)
    answer(controller, engine, " there.")
    controller.on_cursor_moved(CursorContext("Hel", "lo"))
    assert controller.ghost == ""


def test_disabled_controller_never_asks():
    controller, clock, engine, _ = make(enabled=False)
    typed(controller, "Hello")
    clock.advance(1000)
    assert engine.requests == []


def test_a_deleted_and_retyped_word_shows_the_cached_suggestion_without_a_request():
    controller, clock, engine, _ = make()
    typed(controller, "The quick bro")
    clock.advance(150)
    answer(controller, engine, "wn fox jumps.")
    typed(controller, "The quick br")  # backspace: the suggestion no longer fits
    assert controller.ghost == ""
    typed(controller, "The quick bro")  # retyped
    clock.advance(150)
    assert controller.ghost == "wn fox jumps."
    assert len(engine.requests) == 1 and controller.cache_hits == 1
    typed(controller, "The quick bra")  # not in the cache: a real request
    clock.advance(150)
    assert len(engine.requests) == 2


def test_each_edit_during_the_pause_warms_the_engine_with_the_text_so_far():
    controller, clock, engine, _ = make(debounce_ms=150)
    for text in ("The q", "The qu", "The qui"):
        typed(controller, text)
        clock.advance(100)
    assert engine.warmed == ["The q", "The qu", "The qui"]
    clock.advance(50)
    assert engine.requests == [(1, "The qui")]


def test_typing_through_a_shown_suggestion_warms_nothing_and_asks_nothing():
    controller, clock, engine, shown = make()
    typed(controller, "The quick")
    clock.advance(150)
    answer(controller, engine, " brown fox")
    typed(controller, "The quick b")
    typed(controller, "The quick br")
    assert shown[-1] == "own fox"
    # One warm-up for the typed text, one for the text as it will be once the suggestion is taken.
    assert engine.warmed == ["The quick", "The quick brown fox"] and len(engine.requests) == 1


def test_no_warm_up_when_prefill_while_typing_is_off_or_the_place_is_not_eligible():
    controller, clock, engine, _ = make(prefill_while_typing=False)
    typed(controller, "The quick")
    assert engine.warmed == []
    controller, clock, engine, _ = make()
    typed(controller, "The quick", right="brown")  # inside a line: no suggestion, so no warm-up
    typed(controller, "   ")
    assert engine.warmed == []


def test_the_confidence_gate_hides_an_unsure_suggestion_and_does_not_cache_it():
    controller, clock, engine, shown = make(min_logprob=-1.0)
    typed(controller, "The quick")
    clock.advance(150)
    request_id = engine.requests[-1][0]
    controller.on_confidence(request_id, -2.5)
    controller.on_piece(request_id, " brown fox")
    assert controller.ghost == ""
    controller.on_finished(request_id)
    assert controller.ghost == "" and controller.state == State.IDLE and controller.gated == 1
    typed(controller, "The quick ")  # matches the hidden suggestion: still not shown, a new request goes out
    clock.advance(150)
    assert controller.ghost == "" and len(engine.requests) == 2
    typed(controller, "The quick")
    clock.advance(150)
    assert controller.cache_hits == 0  # the unsure suggestion was never cached


def test_the_confidence_gate_shows_a_sure_suggestion_and_off_shows_all():
    controller, clock, engine, shown = make(min_logprob=-1.0)
    typed(controller, "The quick")
    clock.advance(150)
    request_id = engine.requests[-1][0]
    controller.on_confidence(request_id, -0.4)
    controller.on_piece(request_id, " brown fox")
    assert controller.ghost == " brown fox"
    controller, clock, engine, shown = make()
    typed(controller, "The quick")
    clock.advance(150)
    controller.on_confidence(engine.requests[-1][0], -9.0)
    answer(controller, engine, " brown fox")
    assert controller.ghost == " brown fox"


def test_confidence_of_an_old_request_is_ignored():
    controller, clock, engine, _ = make(min_logprob=-1.0)
    typed(controller, "The quick")
    clock.advance(150)
    old = engine.requests[-1][0]
    typed(controller, "The quick b")
    clock.advance(150)
    controller.on_confidence(old, -9.0)
    controller.on_piece(engine.requests[-1][0], "rown fox")
    assert controller.ghost == "rown fox"


def test_a_finished_shown_suggestion_warms_the_text_it_would_make():
    controller, clock, engine, _ = make()
    typed(controller, "The quick")
    clock.advance(150)
    answer(controller, engine, " brown fox", finish=False)
    assert engine.warmed == ["The quick"]
    controller.on_finished(engine.requests[-1][0])
    assert engine.warmed == ["The quick", "The quick brown fox"]
    typed(controller, "The quick brown fox")  # typed through to its end: a new request as usual
    clock.advance(150)
    assert engine.requests[-1][1] == "The quick brown fox"


# -- speculation: the next suggestion, prepared while the writer reads this one -----------------------


def shown_suggestion(controller, clock, engine, text="The quick", suggestion=" brown fox"):
    typed(controller, text)
    clock.advance(150)
    return answer(controller, engine, suggestion)


def test_a_finished_shown_suggestion_asks_in_the_background_for_what_comes_after_it():
    controller, clock, engine, shown = make(speculate=True)
    shown_suggestion(controller, clock, engine)
    assert engine.requests[-1] == (2, "The quick brown fox") and controller.speculations_started == 1
    assert engine.warmed == ["The quick"]  # the background request prefills it itself: no warm-up
    controller.on_piece(2, " jumps")
    assert controller.ghost == " brown fox" and shown[-1] == " brown fox"  # a guess is never shown


def test_taking_the_suggestion_adopts_the_background_request_still_running():
    controller, clock, engine, shown = make(speculate=True)
    shown_suggestion(controller, clock, engine)
    controller.on_piece(2, " jumps")
    accepted = controller.accept_all()
    typed(controller, "The quick" + accepted)  # the editor inserts it
    assert controller.ghost == " jumps" and controller.speculation_hits == 1  # at once, no pause
    controller.on_piece(2, " over")
    controller.on_finished(2)
    assert controller.ghost == " jumps over" and engine.cancelled == []
    # No request of its own: the only new one is the next guess, for after " jumps over".
    assert engine.requests[2:] == [(3, "The quick brown fox jumps over")] and controller.speculations_started == 2


def test_a_finished_background_suggestion_shows_at_once_when_the_writer_types_through():
    controller, clock, engine, _ = make(speculate=True)
    shown_suggestion(controller, clock, engine)
    controller.on_piece(2, " jumps over")
    controller.on_finished(2)
    for end in range(len("The quick b"), len("The quick brown fox") + 1):
        typed(controller, "The quick brown fox"[:end])
    assert controller.ghost == " jumps over" and controller.speculation_hits == 1
    assert len(engine.requests) == 2 and controller.cache_hits == 1


def test_writing_something_else_cancels_the_background_request_at_once():
    controller, clock, engine, _ = make(speculate=True)
    shown_suggestion(controller, clock, engine)
    typed(controller, "The quick red")
    assert engine.cancelled == [2]
    clock.advance(150)
    assert engine.requests[-1] == (3, "The quick red") and controller.speculation_hits == 0


def test_a_background_suggestion_below_the_confidence_gate_is_not_kept():
    controller, clock, engine, _ = make(speculate=True, min_logprob=-1.0)
    shown_suggestion(controller, clock, engine)
    controller.on_confidence(2, -3.0)
    controller.on_piece(2, " jumps")
    controller.on_finished(2)
    typed(controller, "The quick brown fox")
    assert controller.ghost == "" and controller.speculation_hits == 0
    clock.advance(150)
    assert engine.requests[-1] == (3, "The quick brown fox")


def test_esc_cancels_the_background_request_too():
    controller, clock, engine, _ = make(speculate=True)
    shown_suggestion(controller, clock, engine)
    controller.dismiss()
    assert engine.cancelled == [2]
