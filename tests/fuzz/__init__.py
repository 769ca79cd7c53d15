"""Fuzzing of every connector's parser and of the webhook gateway (issue 8, reliability).

``python -m tests.fuzz.run`` is the benchmark-style run (100,000 cases per format);
``test_fuzz_seeded.py`` is the small seeded set every CI run does. Cases are built from
the real fixtures by structure-aware mutators (``mutate_*``) plus hypothesis-generated
inputs, deterministically from a seed and a case index.
"""
