"""Build and evaluate the all-MiniLM-L6-v2 sentence-embedding model used by ``core.embedding``.

``python -m models.embedding.export`` writes the ONNX files; ``python -m
models.embedding.evaluate`` measures int8 fidelity, agreement with sentence-transformers and
throughput.
"""
