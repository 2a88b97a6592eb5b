"""Home rows ("what to watch now") of a library, from its event log and the recommender.

The app runs ``core/data/recsys/shipped-app`` (or a model fine-tuned on this library by
``mediamind train-recsys``, stored in ``<library>/recsys-model``): the FM-Intent model trained on
MovieLens 100K with 384-d MiniLM content vectors. No library item has a trained id row, so every
item is represented through the content path: cold start is the normal case.

The package, by concern:

* :mod:`~core.recommend.home.model`: which recommender, loaded once per process;
* :mod:`~core.recommend.home.items`: the recommendable items, their content vectors and topics
  (a reviewed topic tag first, then a confident prediction, then the content's nearest topic);
* :mod:`~core.recommend.home.ranking`: the score of each candidate, a linear combination of the
  model's ranking, the topics and lengths of what was finished (overall and at this time of
  day) and content similarity to it, with weights learned on simulated users
  (``python -m bench.home``);
* :mod:`~core.recommend.home.rows`: rows from a scored request (Continue first, each item once,
  no single-card rows, finished items never);
* :mod:`~core.recommend.home.service`: :class:`Recommendations` on a library (cached user state
  and item representations) and :func:`home`.

How the model's intents become rows: ``genre`` (19 film genres) does not name rows, the library's
topics do; ``quick_deep`` splits a topic into "Quick picks" (< 10 min) and "Deep dive";
``continue`` weighs "More like what you finished" and ``discover`` "Something new"; ``new``
"New in your library". Each weighs its row's strength (see :mod:`~core.recommend.home.rows`).
"""

from core.recommend.home.items import (
    GENERAL_TOPIC,
    NEW_MAX_AGE_DAYS,
    QUICK_MAX_SECONDS,
    TAGS_STAMP_KEY,
    TOPIC_MIN_CONFIDENCE,
    TOPIC_MIN_SIMILARITY,
    ItemTable,
    TrainingData,
    item_table,
    item_texts,
    tags_stamp,
    training_data,
)
from core.recommend.home.model import (
    CONTENT_DIM,
    LIBRARY_MODEL_DIRNAME,
    MODEL_ENV,
    SHIPPED_APP_DIR,
    default_model_dir,
    load_model,
)
from core.recommend.home.ranking import (
    AFFINITY_DECAY,
    AFFINITY_HISTORY,
    AFFINITY_WEIGHT,
    content_affinity,
    daypart,
)
from core.recommend.home.rows import (
    BECAUSE_MIN_SIMILARITY,
    Home,
    HomeItem,
    HomeRow,
    Request,
    RowBuilder,
)
from core.recommend.home.service import Recommendations, home

__all__ = [
    "AFFINITY_DECAY",
    "AFFINITY_HISTORY",
    "AFFINITY_WEIGHT",
    "BECAUSE_MIN_SIMILARITY",
    "CONTENT_DIM",
    "GENERAL_TOPIC",
    "LIBRARY_MODEL_DIRNAME",
    "MODEL_ENV",
    "NEW_MAX_AGE_DAYS",
    "QUICK_MAX_SECONDS",
    "SHIPPED_APP_DIR",
    "TAGS_STAMP_KEY",
    "TOPIC_MIN_CONFIDENCE",
    "TOPIC_MIN_SIMILARITY",
    "Home",
    "HomeItem",
    "HomeRow",
    "ItemTable",
    "Recommendations",
    "Request",
    "RowBuilder",
    "TrainingData",
    "content_affinity",
    "daypart",
    "default_model_dir",
    "home",
    "item_table",
    "item_texts",
    "load_model",
    "tags_stamp",
    "training_data",
]
