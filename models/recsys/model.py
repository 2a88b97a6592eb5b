"""The FM-Intent style hierarchical multi-task transformer and its transformer peers (torch).

One module, three modes, so the peers differ only in what is being compared:

* ``sasrec``: causal transformer + full-softmax next-item head (SASRec trained with CE).
* ``aux``: the same plus intent heads trained as auxiliary losses; the next-item head ignores
  them.
* ``hier``: the intent predictions are turned into an intent embedding (probability-weighted
  attention over learned intent-value prototypes) that conditions the next-item head by FiLM.

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
    genre_weight: float = 0.5
    binary_weight: float = 0.5


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
        # Intent-value prototypes: one per genre, two (negative, positive) per binary intent.
        n_proto = n_genres + 2 * len(BINARY_INTENTS)
        self.proto_keys = nn.Parameter(torch.randn(n_proto, d) * 0.1)
        self.proto_values = nn.Parameter(torch.randn(n_proto, d) * 0.1)
        self.query = nn.Linear(d, d)
        self.film = nn.Linear(d, 2 * d)
        # FiLM starts as the identity, so the hierarchy begins as the aux model and only moves
        # away from it where the intent embedding helps the next-item loss.
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
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

    def intents(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """Genre and binary intent logits of hidden states."""
        return self.genre_head(h), self.binary_head(h)

    def intent_embedding(self, h: Tensor, genre_logits: Tensor, binary_logits: Tensor) -> Tensor:
        """Probability-weighted attention of the state over the intent-value prototypes.

        Prototype k gets attention ``softmax_k(q.key_k / sqrt(d) + log w_k)``, where ``w_k`` is
        the predicted probability of its value (genre probability; ``1 - p`` / ``p`` for the two
        values of a binary intent); the embedding is the attention-weighted sum of the values.
        """
        pg = torch.sigmoid(genre_logits)
        pb = torch.sigmoid(binary_logits)
        pair = torch.stack([1.0 - pb, pb], dim=-1).flatten(-2)
        w = torch.cat([pg, pair], dim=-1)
        q = self.query(h)
        logits = q @ self.proto_keys.T * (1.0 / math.sqrt(self.hp.d_model)) + torch.log(w + 1e-6)
        emb: Tensor = torch.softmax(logits, dim=-1) @ self.proto_values
        return emb

    def condition(self, h: Tensor, e: Tensor) -> Tensor:
        """FiLM of the user state by the intent embedding (identity unless mode is ``hier``)."""
        if self.mode != "hier":
            return h
        film: Tensor = self.film(e)
        gamma, beta = film.chunk(2, dim=-1)
        return h * (1.0 + gamma) + beta

    def heads(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(query for the item head, genre logits, binary logits) of hidden states."""
        g, b = self.intents(h)
        if self.mode == "hier":
            return self.condition(h, self.intent_embedding(h, g, b)), g, b
        return h, g, b


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
        e = m.intent_embedding(h, g, b) if m.mode == "hier" else torch.zeros_like(h)
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
