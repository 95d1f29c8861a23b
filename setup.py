"""distillrec: a TFX pipeline from raw user-item interactions to a served and a mobile model."""

from setuptools import find_packages, setup

setup(
    name="distillrec",
    version="0.1.0",
    description=(
        "Production recommender pipeline on TFX: time-split interactions, a DCN-v2 "
        "teacher, a distilled, pruned, int8 student, gated pushes."
    ),
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["pipeline", "pipeline.*", "components", "components.*",
                                    "models", "models.*", "interactions", "interactions.*", "schemas"]),
    package_data={"": ["testdata/**/*", "testdata/*"], "schemas": ["*.pbtxt"],
                  # Not a package: the folder Beam's workers find sitecustomize.py in.
                  "pipeline": ["worker_site/sitecustomize.py"]},
    include_package_data=True,
    install_requires=[
        # Ranges here; exact, verified pins live in constraints.txt.
        "tfx[kfp]>=1.16,<1.17",
        "apache-beam[gcp]>=2.59,<2.60",
        "tensorflow>=2.16,<2.17",
        "tf_keras>=2.16,<2.17",
        "tensorflow-recommenders>=0.7.7,<0.8",
        "tensorflow-model-optimization>=0.8.1,<0.9",
        "ai-edge-litert>=2.3,<2.4",
        "pyyaml>=5.4",
        "pyarrow>=10",
        "pandas>=1.5",
        "matplotlib>=3.8,<4",  # report.md's charts (Agg, no display)
    ],
    extras_require={"test": [
        "pytest",
        # `make test` runs the suite in two worker processes (conftest.py groups the tests
        # that share a trained model or a pipeline run onto one worker).
        "pytest-xdist>=3.8,<4",
        # notebooks/walkthrough_test.py executes the walkthrough notebook in a venv kernel.
        "nbclient>=0.11,<0.12",
        "nbformat>=5.11,<6",
        "ipykernel>=7.3,<8",
        # benchmarks/scale.py samples the memory of a run's process tree.
        "psutil>=7.2,<8",
    ]},
    entry_points={"console_scripts": ["distillrec=pipeline.cli:main"]},
)
