"""Build and evaluate the all-MiniLM-L6-v2 sentence-embedding model the engine runs.

The runtime is ``core.search.embedding``.

:mod:`models.embedding.build` makes the ONNX graphs (the runtime needs only onnxruntime);
``python -m models.embedding.export`` writes them (``--install``: the int8 model where the
app looks for it); ``python -m models.embedding.evaluate`` measures int8 fidelity, agreement
with sentence-transformers and throughput.
"""
