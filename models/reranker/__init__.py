"""The evidence ranker of answers: which passage sentence answers a question.

``python -m models.reranker.train`` fits a logistic model over sentence features
(``core.answer._rank.FEATURES``) on the even-article half of spoken_squad;
``python -m models.reranker.export`` writes it as ONNX to ``core/data/reranker/``;
``python -m models.reranker.evaluate`` reports on the odd-article half only.
"""
