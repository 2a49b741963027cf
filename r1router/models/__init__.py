"""Models: pull them from their source specs into `models/`, and load them.

`loading` is not re-exported: it imports torch, and pulling or checking specs
should not pay for that.
"""

from r1router.models.pull import MANIFEST, pull_model, pull_models, verify_model_dir
from r1router.models.sources import FORMATS, ModelSpec, parse_source, parse_spec
from r1router.models.wheels import default_cache_dir

__all__ = [
    "FORMATS",
    "MANIFEST",
    "ModelSpec",
    "default_cache_dir",
    "parse_source",
    "parse_spec",
    "pull_model",
    "pull_models",
    "verify_model_dir",
]
