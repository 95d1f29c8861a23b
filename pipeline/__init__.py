"""distillrec pipeline: config, create_pipeline, runners and the CLI."""
import os

# TF-MOT and TFRS need Keras 2; every process that may import TensorFlow sets this first.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
