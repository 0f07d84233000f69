"""assets/manifest.json: artifacts are verified by sha256 and bound to their base model."""

import json
from pathlib import Path

import pytest

from engine.errors import ArtifactError
from engine.manifest import artifact, load_manifest, record_metrics, register_artifact, unregister_artifact
from engine.models import ModelInfo

BASE_SHA = "a" * 64


def _adapter(root: Path, name: str = "task_demo") -> Path:
    folder = root / "adapters" / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (folder / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 10)
    return folder


def _register(root: Path, name: str = "task_demo"):
    return register_artifact(
        name,
        "lora_adapter",
        [_adapter(root, name)],
        base_model="gemma3-270m",
        base_sha256=BASE_SHA,
        recipe="training/recipes/sft_lora.py",
        config="training/configs/gemma3-270m/task_demo.yaml",
        data="demo",
        metrics={"nll": 2.5},
        root=root,
    )


def _info(sha: str, name: str = "gemma3-270m") -> ModelInfo:
    return ModelInfo(
        name=name,
        folder=Path("/nowhere"),
        source_sha256=sha,
        architecture="gemma3_text",
        has_chat_template=False,
    )


def test_registered_adapter_round_trips_with_hashes_and_metadata(tmp_path):
    _register(tmp_path)
    raw = json.loads((tmp_path / "manifest.json").read_text())
    entry = raw["artifacts"]["task_demo"]
    assert {f["path"] for f in entry["files"]} == {
        "adapters/task_demo/adapter_config.json",
        "adapters/task_demo/adapter_model.safetensors",
    }
    found = artifact("task_demo", root=tmp_path)
    assert found.kind == "lora_adapter" and found.metrics == {"nll": 2.5}
    assert found.folder == tmp_path / "adapters" / "task_demo"
    assert found.created.endswith("Z")


def test_tampered_file_is_rejected_naming_the_file(tmp_path):
    _register(tmp_path)
    weights = tmp_path / "adapters" / "task_demo" / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF  # same size, one flipped byte
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match=r"adapters/task_demo/adapter_model\.safetensors.*altered"):
        artifact("task_demo", root=tmp_path)


def test_missing_file_is_rejected_naming_the_file(tmp_path):
    _register(tmp_path)
    (tmp_path / "adapters" / "task_demo" / "adapter_config.json").unlink()
    with pytest.raises(ArtifactError, match=r"adapter_config\.json.*missing"):
        artifact("task_demo", root=tmp_path)


def test_adapter_for_another_base_is_refused(tmp_path):
    found = _register(tmp_path)
    found.require_base(_info(BASE_SHA))  # the right base passes
    with pytest.raises(ArtifactError, match="trained for the base model gemma3-270m.*smollm2-135m"):
        found.require_base(_info("b" * 64, "smollm2-135m"))


def test_unknown_artifact_lists_what_is_installed(tmp_path):
    _register(tmp_path)
    with pytest.raises(ArtifactError, match="available: task_demo"):
        artifact("persona", root=tmp_path)


def test_corrupt_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="corrupt"):
        load_manifest(tmp_path)


def test_path_escaping_the_assets_folder_is_refused(tmp_path):
    _register(tmp_path)
    raw = json.loads((tmp_path / "manifest.json").read_text())
    raw["artifacts"]["task_demo"]["files"][0]["path"] = "../../etc/passwd"
    (tmp_path / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="outside the assets folder"):
        artifact("task_demo", root=tmp_path)


def test_registering_updates_one_entry_and_keeps_the_others(tmp_path):
    _register(tmp_path, "a")
    _register(tmp_path, "b")
    register_artifact(
        "a",
        "lora_adapter",
        [tmp_path / "adapters" / "a"],
        "gemma3-270m",
        BASE_SHA,
        metrics={"nll": 1.0},
        root=tmp_path,
    )
    entries = load_manifest(tmp_path)
    assert sorted(entries) == ["a", "b"] and entries["a"].metrics == {"nll": 1.0}
    unregister_artifact("a", root=tmp_path)
    assert sorted(load_manifest(tmp_path)) == ["b"]
    assert not list(tmp_path.glob(".manifest-*"))  # no temp files left behind


def test_recorded_metrics_join_the_entry_and_leave_its_files_verified(tmp_path):
    _register(tmp_path, "a")
    before = artifact("a", root=tmp_path)
    record_metrics("a", "refinement", {"DPO": {"wqrm": 2.5}, "shipped": []}, root=tmp_path)
    after = artifact("a", root=tmp_path)  # verifies every file's sha256 again
    assert after.metrics == {"nll": 2.5, "refinement": {"DPO": {"wqrm": 2.5}, "shipped": []}}
    assert after.files == before.files and after.created == before.created
    with pytest.raises(ArtifactError, match="No artifact named 'b'"):
        record_metrics("b", "refinement", {}, root=tmp_path)
    assert not list(tmp_path.glob(".manifest-*"))


def test_missing_manifest_means_no_artifacts(tmp_path):
    assert load_manifest(tmp_path) == {}


def test_the_writers_an_artifact_trained_on_round_trip(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.bin").write_bytes(b"x")
    sources = [{"corpus": "austen", "author": "Jane Austen", "held_out": False}]
    register_artifact("a", "other", [tmp_path / "a"], "b", "0" * 64, root=tmp_path, sources=sources)
    assert artifact("a", tmp_path).sources == tuple(sources)
    assert json.loads((tmp_path / "manifest.json").read_text())["artifacts"]["a"]["sources"] == sources


def test_every_shipped_trained_artifact_names_its_writers_and_none_is_held_out():
    from training.data.corpora import HELD_OUT

    for name, art in load_manifest().items():
        if name.startswith("task_") or name in ("persona", "wqrm") or "projector" in name:
            corpora = {s["corpus"] for s in art.sources}
            assert corpora, f"{name} records no writers"
            assert not corpora & set(HELD_OUT), f"{name} trained on a held-out writer"
