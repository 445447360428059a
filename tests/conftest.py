"""Shared set-up: quiet, repeatable TensorFlow; a hypothesis profile that fits CI's time budget."""

import os

# Must be set before TensorFlow is imported anywhere in the test session.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from hypothesis import HealthCheck, settings  # noqa: E402

# Framework calls are slow compared with NumPy: fewer examples, no deadline (first calls compile).
settings.register_profile(
    "course", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile("course")
