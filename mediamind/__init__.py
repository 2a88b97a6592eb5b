"""The ``mediamind`` console script: the one place that may depend on engine, app and models.

``core`` never imports ``app`` or ``models``; the commands that need them (``gui``, and
``train-recsys`` which needs torch and the training code) are added here, on top of the
engine's command line (:mod:`core.cli`).
"""
