"""Who is speaking: speaker embeddings, diarization and library-wide speaker profiles.

* :mod:`core.speakers.frontend`: the GE2E encoder's mel front end in numpy.
* :mod:`core.speakers.encoder`: the GE2E speaker encoder (ONNX, float) on 1.6 s windows.
* :mod:`core.speakers.diarize`: speech regions, window embeddings, clustering, turns, and
  transcript segments split at word times where the speaker changes.
* :mod:`core.speakers.profiles`: speaker profiles stored in the library and matched across items.
"""
