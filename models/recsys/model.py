"""The FM-Intent style hierarchical multi-task transformer and its transformer peers (torch).

One module, three modes, so the peers differ only in what is being compared:

* ``sasrec``: causal transformer + full-softmax next-item head (SASRec trained with CE).
* ``aux``: the same plus intent heads trained as auxiliary losses; the next-item head ignores
  them.
* ``hier``: the intent predictions are turned into an intent embedding that conditions the
  next-item head. ``intent_arch = "gated"`` (the default): each intent's predicted distribution
  is soft attention over that intent's learned value embeddings (genre: the normalised genre
  probabilities over 19 genre embeddings; a binary intent: ``1 - p`` / ``p`` over its two), the
  four intent embeddings are combined by attention with the state as query, and the result is
  added to the state through a learned gate (``z = h + sigmoid(G [h; e]) * W e``). Optionally
  (``teacher_forcing``, 0 by default: 0.5 lowered validation NDCG@10, docs/recsys.md) a share
  of training positions feeds the *true* intent labels of the next event instead of the
  predictions (scheduled sampling); at inference the predictions are always used.
  ``intent_arch = "film"`` is the first version (probability-weighted prototype attention,
  FiLM), kept so older checkpoints load.

Item representation (shared by input and output, as in SASRec): ``id_row + W content + b``,
where items without training events and randomly dropped items (``id_dropout``) use the learned
"unknown id" row 0, so the content path alone must carry them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from core.recommend.scorer import N_GAP_BUCKETS, N_HOURS, N_WEEKDAYS
from models.recsys.data import BINARY_INTENTS, N_ENGAGEMENT_BUCKETS

Mode = Literal["sasrec", "aux", "hier"]
MODES: tuple[Mode, ...] = ("sasrec", "aux", "hier")
NEG_INF = -1e9


@dataclass
class HParams:
    """Architecture and optimisation settings (defaults are the shipped model's)."""

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 2
    max_len: int = 200
    dropout: float = 0.3
    id_dropout: float = 0.2
    lr: float = 2e-3
    weight_decay: float = 0.0
    # Small batches: ML-100K has only ~1.1k training windows, so big batches mean few steps.
    batch_size: int = 16
    # Intent loss weights, chosen on validation NDCG@10 of the hierarchy (3 seeds: 0.5 -> 0.1051,
    # 1 -> 0.1075, 2 -> 0.1082; one seed: 0.1 -> 0.0992, 4 -> 0.1026); docs/recsys.md.
    genre_weight: float = 2.0
    binary_weight: float = 2.0
    # Cosine learning-rate decay over the epoch budget, down to lr_floor x lr.
    cosine_decay: bool = True
    lr_floor: float = 0.05
    # "gated" (see the module docstring) or "film" (checkpoints written before "gated" existed).
    intent_arch: str = "gated"
    # Share of training positions whose intent embedding is built from the true labels.
    teacher_forcing: float = 0.0
    # Read the request's context (hour, weekday, gap since the latest event): in ``hier`` mode
    # through the intent heads only, in the other modes added to the state directly.
    request_context: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> HParams:
        """Rebuild from ``asdict`` output; a dict without ``intent_arch`` is a "film" model."""
        values = dict(data)
        values.setdefault("intent_arch", "film")
        values.setdefault("teacher_forcing", 0.0)
        values.setdefault("cosine_decay", False)
        values.setdefault("request_context", False)
        return cls(**values)  # type: ignore[arg-type]


class Block(nn.Module):
    """Pre-norm transformer block with explicit attention (exports to plain ONNX ops)."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        # Python constants, so the ONNX trace does not depend on tensor shapes.
        self.head_dim = d // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 2 * d)
        self.ff2 = nn.Linear(2 * d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        """Apply the block; ``bias`` is the additive ``[B, 1, L, L]`` attention mask."""
        b, n, d = x.shape
        dh = self.head_dim
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        q = q.reshape(b, n, self.heads, dh).transpose(1, 2)
        k = k.reshape(b, n, self.heads, dh).transpose(1, 2)
        v = v.reshape(b, n, self.heads, dh).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) * self.scale + bias, dim=-1)
        o = (self.drop(att) @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.drop(self.out(o))
        ff: Tensor = self.drop(self.ff2(self.drop(torch.nn.functional.gelu(self.ff1(self.ln2(x))))))
        return x + ff


class IntentRecModel(nn.Module):
    """Causal transformer over events with intent heads and a full-softmax next-item head."""

    content: Tensor
    known: Tensor

    def __init__(
        self, hp: HParams, mode: Mode, content: Tensor, known: Tensor, n_genres: int
    ) -> None:
        """Build the model.

        Args:
            hp: Hyper-parameters.
            mode: ``sasrec``, ``aux`` or ``hier``.
            content: ``[n_items + 1, content_dim]`` content vectors (row 0 = padding).
            known: ``[n_items + 1]`` bool, items with training events (trained id rows).
            n_genres: Width of the genre intent.
        """
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {MODES}")
        d = hp.d_model
        self.hp = hp
        self.mode: Mode = mode
        # Score offset of items scored by content only (no trained id row); chosen after
        # training on validation (models.recsys.train.choose_cold_offset), 0 until then.
        self.cold_offset = 0.0
        self.n_genres = n_genres
        self.register_buffer("content", content.float())
        self.register_buffer("known", known.bool())
        n_rows = content.shape[0]
        self.id_emb = nn.Embedding(n_rows, d)
        self.content_proj = nn.Linear(content.shape[1], d)
        self.pos_emb = nn.Embedding(hp.max_len, d)
        self.hour_emb = nn.Embedding(N_HOURS, d)
        self.weekday_emb = nn.Embedding(N_WEEKDAYS, d)
        self.gap_emb = nn.Embedding(N_GAP_BUCKETS, d)
        self.engagement_emb = nn.Embedding(N_ENGAGEMENT_BUCKETS, d)
        self.in_drop = nn.Dropout(hp.dropout)
        self.blocks = nn.ModuleList(Block(d, hp.n_heads, hp.dropout) for _ in range(hp.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.genre_head = nn.Linear(d, n_genres)
        self.binary_head = nn.Linear(d, len(BINARY_INTENTS))
        if hp.intent_arch == "film":
            # Intent-value prototypes: one per genre, two (negative, positive) per binary intent.
            n_proto = n_genres + 2 * len(BINARY_INTENTS)
            self.proto_keys = nn.Parameter(torch.randn(n_proto, d) * 0.1)
            self.proto_values = nn.Parameter(torch.randn(n_proto, d) * 0.1)
            self.query = nn.Linear(d, d)
            self.film = nn.Linear(d, 2 * d)
            # FiLM starts as the identity, so the hierarchy begins as the aux model.
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
        elif hp.intent_arch == "gated":
            n_intents = 1 + len(BINARY_INTENTS)
            self.genre_values = nn.Parameter(torch.randn(n_genres, d) * 0.1)
            self.binary_values = nn.Parameter(torch.randn(len(BINARY_INTENTS), 2, d) * 0.1)
            # One learned key per intent (which intent matters depends on the state).
            self.intent_keys = nn.Parameter(torch.randn(n_intents, d) * 0.1)
            self.query = nn.Linear(d, d)
            self.gate = nn.Linear(2 * d, d)
            self.intent_out = nn.Linear(d, d)
            # The conditioning starts at zero, so the hierarchy begins as the aux model and
            # only moves away from it where the intent embedding lowers the next-item loss.
            nn.init.zeros_(self.intent_out.weight)
            nn.init.zeros_(self.intent_out.bias)
        else:
            raise ValueError(f"unknown intent_arch {hp.intent_arch!r}; use 'gated' or 'film'")
        if hp.request_context:
            self.req_hour_emb = nn.Embedding(N_HOURS, d)
            self.req_weekday_emb = nn.Embedding(N_WEEKDAYS, d)
            self.req_gap_emb = nn.Embedding(N_GAP_BUCKETS, d)
            for emb in (self.req_hour_emb, self.req_weekday_emb, self.req_gap_emb):
                nn.init.normal_(emb.weight, std=0.02)
            # Residual MLP over [state; request], so the request can interact with the history
            # (comedy in the evening, news after a long absence).
            self.context_mlp = nn.Sequential(
                nn.Linear(2 * d, 2 * d), nn.GELU(), nn.Linear(2 * d, d)
            )
        for emb in (self.pos_emb, self.hour_emb, self.weekday_emb, self.gap_emb):
            nn.init.normal_(emb.weight, std=0.02)
        nn.init.normal_(self.engagement_emb.weight, std=0.02)
        nn.init.normal_(self.id_emb.weight, std=0.1)

    # ------------------------------------------------------------------ items

    def item_table(self, drop: Tensor | None = None) -> Tensor:
        """Representations of all items ``[n_items + 1, d]`` (row 0 = padding).

        Args:
            drop: Optional bool ``[n_items + 1]``: items whose id row is replaced by the unknown
                row (id dropout during training).

        Returns:
            The table.
        """
        use_id = self.known if drop is None else self.known & ~drop
        ids = torch.where(use_id[:, None], self.id_emb.weight, self.id_emb.weight[0:1])
        projected: Tensor = self.content_proj(self.content)
        return ids + projected

    # ------------------------------------------------------------------ sequence

    def encode(
        self,
        item_rep: Tensor,
        *,
        hour: Tensor,
        weekday: Tensor,
        gap: Tensor,
        engagement: Tensor,
        mask: Tensor,
    ) -> Tensor:
        """Hidden states ``[B, L, d]`` of left-padded sequences (``mask`` 1 = real event)."""
        n = item_rep.shape[1]
        pos = torch.arange(n, device=item_rep.device)
        # Positions count back from the latest event, so left padding does not shift them.
        rev = (n - 1) - pos
        x = (
            item_rep
            + self.pos_emb(rev)[None]
            + self.hour_emb(hour)
            + self.weekday_emb(weekday)
            + self.gap_emb(gap)
            + self.engagement_emb(engagement)
        )
        x = self.in_drop(x * mask[..., None])
        causal = pos[None, :] <= pos[:, None]
        allowed = (causal[None] & (mask[:, None, :] > 0)) | (pos[None, :] == pos[:, None])[None]
        bias = torch.where(allowed, 0.0, NEG_INF)[:, None]
        for block in self.blocks:
            x = block(x, bias)
        out: Tensor = self.ln_f(x)
        return out

    def with_request(self, h: Tensor, request: Tensor) -> Tensor:
        """The state moved by the request's context (``request``: ``[N, 3]`` hour, weekday, gap)."""
        r = (
            self.req_hour_emb(request[..., 0])
            + self.req_weekday_emb(request[..., 1])
            + self.req_gap_emb(request[..., 2])
        )
        out: Tensor = h + self.context_mlp(torch.cat([h, r], dim=-1))
        return out

    def intents(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Genre and binary intent logits of hidden states."""
        return self.genre_head(h), self.binary_head(h)

    def intent_probabilities(self, genre_logits: Tensor, binary_logits: Tensor) -> Tensor:
        """Genre and binary probabilities side by side ``[..., n_genres + 3]``."""
        return torch.cat([torch.sigmoid(genre_logits), torch.sigmoid(binary_logits)], dim=-1)

    def intent_embedding(self, h: Tensor, probs: Tensor) -> Tensor:
        """The intent embedding of states ``h`` given intent probabilities (see the docstring).

        Args:
            h: ``[N, d]`` states.
            probs: ``[N, n_genres + 3]`` genre probabilities then binary ones (predicted, or
                the true labels under teacher forcing).

        Returns:
            ``[N, d]``.
        """
        pg, pb = probs[..., : self.n_genres], probs[..., self.n_genres :]
        scale = 1.0 / math.sqrt(self.hp.d_model)
        q = self.query(h)
        if self.hp.intent_arch == "film":
            pair = torch.stack([1.0 - pb, pb], dim=-1).flatten(-2)
            w = torch.cat([pg, pair], dim=-1)
            logits = q @ self.proto_keys.T * scale + torch.log(w + 1e-6)
            emb: Tensor = torch.softmax(logits, dim=-1) @ self.proto_values
            return emb
        # Per intent: its distribution as soft attention over its value embeddings.
        genre = (pg / (pg.sum(-1, keepdim=True) + 1e-6)) @ self.genre_values
        binary = (1.0 - pb)[..., None] * self.binary_values[:, 0] + pb[..., None] * (
            self.binary_values[:, 1]
        )
        per_intent = torch.cat([genre[..., None, :], binary], dim=-2)  # [N, 4, d]
        att = torch.softmax((per_intent + self.intent_keys) @ q[..., None] * scale, dim=-2)
        combined: Tensor = (att * per_intent).sum(-2)
        return combined

    def condition(self, h: Tensor, e: Tensor) -> Tensor:
        """Condition the user state on the intent embedding (identity unless mode is ``hier``)."""
        if self.mode != "hier":
            return h
        if self.hp.intent_arch == "film":
            film: Tensor = self.film(e)
            gamma, beta = film.chunk(2, dim=-1)
            return h * (1.0 + gamma) + beta
        gate = torch.sigmoid(self.gate(torch.cat([h, e], dim=-1)))
        out: Tensor = h + gate * self.intent_out(e)
        return out

    def item_scores(
        self,
        h: Tensor,
        table: Tensor,
        *,
        teacher: Tensor | None = None,
        use_teacher: Tensor | None = None,
        request: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Next-item logits over ``table`` (column 0, padding, is -inf) and intent logits.

        Arguments after ``table`` are those of :meth:`heads`.
        """
        query, g, b = self.heads(h, teacher, use_teacher, request)
        logits = query @ table.T
        logits[:, 0] = -torch.inf
        return logits, g, b

    def heads(
        self,
        h: Tensor,
        teacher: Tensor | None = None,
        use_teacher: Tensor | None = None,
        request: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(query for the item head, genre logits, binary logits) of hidden states.

        Args:
            h: ``[N, d]`` states.
            teacher: Optional ``[N, n_genres + 3]`` true intent labels of the next events.
            use_teacher: Optional bool ``[N]``: rows whose intent embedding is built from
                ``teacher`` instead of the predictions (scheduled sampling in training).
            request: ``[N, 3]`` request context; required when ``hp.request_context``.
        """
        hi = h
        if self.hp.request_context:
            if request is None:
                raise ValueError("this model reads the request context; pass request=")
            hi = self.with_request(h, request)
            if self.mode != "hier":
                # The peers without the hierarchy see the request directly.
                h = hi
        g, b = self.intents(hi)
        if self.mode != "hier":
            return h, g, b
        probs = self.intent_probabilities(g, b)
        if teacher is not None and use_teacher is not None:
            probs = torch.where(use_teacher[:, None], teacher, probs)
        return self.condition(h, self.intent_embedding(hi, probs)), g, b


def build_model(
    hp: HParams, mode: Mode, content: Tensor, known: Tensor, n_genres: int
) -> IntentRecModel:
    """Construct a model (kept as a function so checkpoints rebuild it the same way)."""
    return IntentRecModel(hp, mode, content, known, n_genres)


class EncoderGraph(nn.Module):
    """Export wrapper: event sequence -> state, intent embedding and intent probabilities."""

    def __init__(self, model: IntentRecModel) -> None:
        super().__init__()
        self.model = model

    def forward(  # noqa: PLR0917 (ONNX export passes the graph inputs positionally)
        self,
        item_rep: Tensor,
        hour: Tensor,
        weekday: Tensor,
        gap: Tensor,
        engagement: Tensor,
        mask: Tensor,
    ) -> tuple[Tensor, ...]:
        """Run the encoder on left-padded sequences and keep the latest position."""
        m = self.model
        h = m.encode(
            item_rep, hour=hour, weekday=weekday, gap=gap, engagement=engagement, mask=mask
        )[:, -1]
        g, b = m.intents(h)
        probs = m.intent_probabilities(g, b)
        e = m.intent_embedding(h, probs) if m.mode == "hier" else torch.zeros_like(h)
        pb = torch.sigmoid(b)
        return h, e, torch.sigmoid(g), pb[:, 0:1], pb[:, 1:2], pb[:, 2:3]


class ScorerGraph(nn.Module):
    """Export wrapper: (state, intent embedding, item representations) -> scores."""

    def __init__(self, model: IntentRecModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, state: Tensor, intent_embedding: Tensor, item_rep: Tensor) -> Tensor:
        """Scores ``[B, M]``: dot product of the conditioned state with every item."""
        return self.model.condition(state, intent_embedding) @ item_rep.T
