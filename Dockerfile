# The image every component of the Kubeflow pipeline runs in (distillrec compile-kubeflow
# --image IMAGE), and the image of Dataflow's workers (--sdk_container_image=IMAGE):
#
#   docker build -t IMAGE . && docker push IMAGE
#
# TFX's own image at the version constraints.txt pins (pipeline/kubeflow_test.py checks
# the two agree): its Python 3.10, TFX and KFP's executor entry point, and Beam's worker
# boot as ENTRYPOINT, which Dataflow's custom containers need; KFP calls its own command.
FROM tensorflow/tfx:1.16.0

# TF-MOT and TFRS need Keras 2 in every process: KFP's executors and Beam's workers.
ENV TF_USE_LEGACY_KERAS=1

WORKDIR /distillrec
COPY . .
# A regular install, not -e: executors are imported by module path
# (components.teacher_trainer.executor.Executor) wherever the container starts. The
# pins are the verified stack's; the check fails the build if a module or the schema
# template did not make it into the install.
RUN python -m pip install --no-cache-dir -c constraints.txt . \
 && cd / \
 && python -c "import os, schemas, pipeline.kubeflow, components.teacher_trainer.component; \
assert os.path.isfile(schemas.SCHEMA_FILE)" \
 && distillrec --help > /dev/null
