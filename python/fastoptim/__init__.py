"""fastoptim: the fastest correct neural-network optimizer step on a CPU.

torch.optim's rules (SGD, Adagrad, RMSprop, Adam, AdamW, NAdam, RAdam, Adamax, Adadelta, Rprop,
ASGD, SparseAdam, Adafactor, Muon), Lion, LAMB and schedule-free AdamW, with torch's (or the reference
package's) names, defaults and formulas, over NumPy arrays, as vectorized multithreaded C++
kernels; any gradient may be row-sparse (:class:`RowSparse`, for embedding tables)::

    import numpy as np, fastoptim as fo
    params = {"W": np.zeros((784, 256), np.float32), "b": np.zeros(256, np.float32)}
    opt = fo.Adam(params, lr=1e-3)
    opt.step(grads)          # grads: same keys and shapes; params updated in place
"""

from . import data, models, ops, rules, schedules
from ._version import __version__
from .adafactor import Adafactor
from .flat_params import FlatParams
from .lamb import Lamb
from .muon import Muon
from .optimizer import Optimizer, StepResult
from .row_sparse import RowSparse
from .rule_classes import CLASSES
from .runtime import active_isa, get_num_threads, info, set_num_threads, supported_isas, use_isa
from .training import EarlyStopping, History, SweepResult, fit, lr_sweep

# The optimizer classes (SGD, Adam, AdamW, ...), one per class of each registered rule.
globals().update(CLASSES)

__all__ = [
    "__version__", "Optimizer", "StepResult", "RowSparse", "FlatParams", "set_num_threads", "get_num_threads",
    "use_isa", "active_isa", "supported_isas", "info", "fit", "History", "EarlyStopping", "lr_sweep", "SweepResult",
    "data", "models", "ops", "schedules", "rules", *CLASSES, "Muon", "Adafactor", "Lamb",
]
