"""Adapter folders with the files peft writes (not loadable weights): enough to hash and register."""

from pathlib import Path


def fake_adapter(folder: Path, payload: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8, "lora_alpha": 16}')
    (folder / "adapter_model.safetensors").write_bytes(payload)
    return folder


def register_kept(root: Path, name: str) -> None:
    """A manifest under ``root`` holding one adapter entry ``name``, as an eval's kept adapter."""
    from engine.manifest import register_artifact

    folder = fake_adapter(root / "adapters" / name, name.encode())
    register_artifact(name, "lora_adapter", [folder], "gemma3-270m", "a" * 64, root=root)
