"""distillrec components."""
import os

# TF-MOT and TFRS need Keras 2; set before TensorFlow is imported (Beam workers too).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
