"""tipsd.model: the shared training core (data, network, loss terms, training loop, evaluation).

Kept import-light on purpose: `import tipsd.model` must not import torch, so that the CLI and
`tipsd.analysis` start fast. Import the submodules you need (`tipsd.model.train`, ...).
"""
from tipsd.model.errors import TipsdError

__all__ = ["TipsdError"]
