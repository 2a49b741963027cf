"""The registered router's pyfunc model, logged as code: MLflow copies this file into the model and runs it to load.

See `r1router.training.registry` (models-from-code instead of a pickled object).
"""

import mlflow

from r1router.training.registry import RouterModel

mlflow.models.set_model(RouterModel())
