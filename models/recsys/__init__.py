"""Hierarchical multi-task intent + next-item recommender (after Netflix's FM-Intent).

``data`` (numpy only) loads MovieLens 100K, builds the leave-last-out split with cold items and
derives the intent labels; ``model`` (torch) holds the transformer and its peers; ``train``,
``export``, ``evaluate`` and ``bench`` are the command-line steps. See ``docs/recsys.md``.
"""
