"""Next-item recommendation runtime: loads the exported recsys ONNX model and ranks items.

``events`` keeps the library's watch-event log, ``home`` turns it into home rows with the
recommender of ``scorer`` (onnxruntime only; no torch).
"""

from core.recommend.events import (
    EVENT_KINDS,
    SESSION_GAP_SECONDS,
    ItemProgress,
    View,
    WatchEvent,
    record_event,
    views,
    watch,
)
from core.recommend.home import Home, HomeItem, HomeRow, Recommendations, home
from core.recommend.scorer import HistoryEvent, Recommender, UserState

__all__ = [
    "EVENT_KINDS",
    "SESSION_GAP_SECONDS",
    "HistoryEvent",
    "Home",
    "HomeItem",
    "HomeRow",
    "ItemProgress",
    "Recommendations",
    "Recommender",
    "UserState",
    "View",
    "WatchEvent",
    "home",
    "record_event",
    "views",
    "watch",
]
