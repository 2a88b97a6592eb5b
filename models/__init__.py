"""Model build pipelines: turn upstream checkpoints into the files the engine runs.

This is the only package allowed to import torch (the optional ``train`` extra).
"""
