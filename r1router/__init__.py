"""r1router: learning to route step-wise queries across knowledge bases (R1-Router).

Importing the package makes torchvision importable under the CPU torch wheel
(see `r1router.torchvision_compat`) before anything pulls in open_clip or
transformers.
"""

from r1router.torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()

__version__ = "0.1.0"
