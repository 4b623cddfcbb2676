"""fastoptim.torch: drop-in replacements for torch.optim's element-wise optimizers (SGD, Adagrad,
RMSprop, Adam, AdamW, NAdam, RAdam, Adamax, Adadelta, Rprop, ASGD: one class per class of each
registered rule) on CPU tensors.

    from fastoptim.torch import Adam        # instead of: from torch.optim import Adam
    opt = Adam(model.parameters(), lr=1e-3)

The classes are ``torch.optim.Optimizer`` subclasses with the same constructor arguments,
defaults, parameter groups, ``zero_grad``, closures, hooks and learning-rate schedulers. The
kernels update the tensors' own memory (zero copies) and the state is kept in exactly
torch's format (same keys, ``step`` as a float32 scalar tensor), so a checkpoint from
``torch.optim.Adam`` loads into ``fastoptim.torch.Adam`` and the other way round.

Supported: dense, contiguous CPU tensors of float32 or float64. Anything else raises a
``ValueError`` naming the parameter at construction (or at ``add_param_group``); sparse
gradients raise at ``step``, non-contiguous gradients are copied to contiguous ones first.

Every step checks that each parameter's memory, size, dtype and contiguity are still those its
cached plan was built over, and rebuilds the plan when not (``p.data = ...``, ``model.double()``,
ZeRO's bucket views); writing ``optimizer.state`` (``state[p] = ...``, ``del``, ``clear()``)
rebuilds it too. Steps of one optimizer from several threads run one at a time; a step is
applied to every group, with every step count advanced, or (on an error) to none.
``foreach``/``fused`` are accepted and ignored (every step is one fused multi-tensor call);
``capturable``/``differentiable`` must be False.

Threads: fastoptim and torch each run an OpenMP thread pool. Use the same count for both
(``fastoptim.set_num_threads(torch.get_num_threads())``, which this module does at import);
see the README for what was measured.
"""

from __future__ import annotations

import torch

from ..runtime import set_num_threads
from .classes import CLASSES

set_num_threads(max(1, torch.get_num_threads()))

globals().update(CLASSES)
__all__ = list(CLASSES)
