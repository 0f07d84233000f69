"""The autosave store: atomic private entries, and orphans only when their process is gone."""

from __future__ import annotations

import os
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
