"""r1router: learning to route step-wise queries across knowledge bases (R1-Router).

Importing the package imports no torch: it only arranges for torchvision to be
made importable under the CPU torch wheel at the moment something first
imports it (open_clip, transformers; see `r1router.torchvision_compat`), so
the text-only stages stay light.
"""

from r1router.torchvision_compat import install

install()

__version__ = "0.1.0"
