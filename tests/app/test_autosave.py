"""The autosave store: atomic private entries, and orphans only when their process is gone."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from app.autosave import AutosaveStore

REPO = Path(__file__).resolve().parents[2]
CRASH = """
import os, sys
from app.autosave import AutosaveStore
store = AutosaveStore(session="crashed")
store.save(sys.argv[1], "/home/anna/novel.md")
os._exit(9)  # no unlock, no cleanup: like kill -9
"""


def test_a_live_session_is_never_offered_and_a_dead_one_is(tmp_path, killah_home):
    live = AutosaveStore(session="live")
    live.save("still being edited", None)
    mode = stat.S_IMODE(os.stat(live.entry_path).st_mode)
    assert mode == 0o600
    subprocess.run([sys.executable, "-c", CRASH, "Lost words, found again."], cwd=REPO, check=False,
                   env={**os.environ, "KILLAH_HOME": str(killah_home)}, timeout=60)
    me = AutosaveStore()
    orphans = me.orphans()
    assert [(o.session, o.text, o.path, o.title) for o in orphans] == [
        ("crashed", "Lost words, found again.", "/home/anna/novel.md", "novel.md")
    ]
    me.adopt(orphans[0])
    assert me.orphans() == []
    live.close()
    me.close()


def test_closing_a_session_removes_its_entry_unless_kept(killah_home):
    store = AutosaveStore(session="s1")
    store.save("text", None)
    store.close(keep=True)
    assert store.entry_path.exists()
    other = AutosaveStore()
    assert [o.text for o in other.orphans()] == ["text"]  # released lock: offered at next start
    other.close()
    store2 = AutosaveStore(session="s2")
    store2.save("text", None)
    store2.close()
    assert not store2.entry_path.exists()


def test_the_newer_of_a_dead_sessions_two_files_is_offered_and_a_torn_quick_file_is_skipped(killah_home):
    dead = AutosaveStore(session="dead")
    dead.save("durable words", None)
    dead.save("durable words and quick ones", None, durable=False)
    dead._lock.unlock()  # its process is gone, as after kill -9
    me = AutosaveStore()
    assert [o.text for o in me.orphans()] == ["durable words and quick ones"]
    dead.quick_path.write_text('{"path": null, "te')  # a power cut tore the unsynced quick file
    assert [o.text for o in me.orphans()] == ["durable words"]
    dead.entry_path.unlink()
    dead.save("killed before the first durable autosave", None, durable=False)
    (orphan,) = me.orphans()
    assert orphan.text == "killed before the first durable autosave"
    me.adopt(orphan)
    assert not dead.quick_path.exists() and me.orphans() == []
    me.close()


def test_continuous_typing_reaches_the_quick_autosave_within_a_second(qtbot, make_window):
    from app.script_hooks import type_keys

    window = make_window(None, load_model=False)
    typed = "Never a pause: a debounced autosave would wait for one. " * 2
    for ch in typed[:40]:  # 10 keys a second for 4 s, no pause longer than 0.1 s
        type_keys(window.editor, ch)
        qtbot.wait(100)
    saved = json.loads(window.autosave.quick_path.read_text(encoding="utf-8"))["text"]
    assert typed[:40].startswith(saved)
    assert len(saved) >= 40 - 10, saved  # at most 1 s (10 keys) behind the keyboard
    window.editor.document().setModified(False)  # saved elsewhere: both autosave files go
    assert not window.autosave.quick_path.exists()


def test_background_saves_land_in_order_and_never_after_a_discard(killah_home):
    store = AutosaveStore(session="bg")
    for i in range(20):
        store.save_in_background(f"version {i}", None)
    store.flush()
    assert json.loads(store.entry_path.read_text(encoding="utf-8"))["text"] == "version 19"
    for i in range(20):
        store.save_in_background(f"late {i}", None)
    store.discard()  # saved elsewhere: a queued write must not bring the entry back
    assert not store.entry_path.exists()
    store.save("sync after background", None)
    assert json.loads(store.entry_path.read_text(encoding="utf-8"))["text"] == "sync after background"
    shutil.rmtree(store.folder)  # the disk went away: the failure is reported, not raised on a thread
    store.save_in_background("nowhere to go", None)
    store.flush()
    assert store.background_error.startswith("Autosave failed")
    store.folder.mkdir()
    store.close()


def test_a_queued_durable_save_does_not_stand_in_for_the_quick_one(qtbot, make_window):
    from app.script_hooks import type_keys

    window = make_window(None, load_model=False)
    type_keys(window.editor, "abc")
    window.documents.soon.stop()
    assert window.documents.autosave_now(background=True)  # queued: its fsync may take seconds
    assert window.documents.autosave_quick()  # so the quick file is written all the same
    assert json.loads(window.autosave.quick_path.read_text(encoding="utf-8"))["text"] == "abc"
    assert not window.documents.autosave_quick()  # nothing new since
