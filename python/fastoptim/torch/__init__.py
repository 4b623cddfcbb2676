"""fastoptim.torch: drop-in replacements for torch.optim's optimizers (SGD, Adagrad, RMSprop,
Adam, AdamW, NAdam, RAdam, Adamax, Adadelta, Rprop, ASGD, SparseAdam: one class per class of each
registered rule; Muon and Adafactor) and for pytorch-optimizer's Lion and Lamb and schedulefree's
AdamWScheduleFree, on CPU tensors.

    from fastoptim.torch import Adam        # instead of: from torch.optim import Adam
    opt = Adam(model.parameters(), lr=1e-3)

The classes are ``torch.optim.Optimizer`` subclasses with the same constructor arguments,
defaults, parameter groups, ``zero_grad``, closures, hooks and learning-rate schedulers. The
kernels update the tensors' own memory and the state is kept in exactly
torch's format (same keys, ``step`` as a float32 scalar tensor), so a checkpoint from
``torch.optim.Adam`` loads into ``fastoptim.torch.Adam`` and the other way round.

Supported: CPU tensors of float32 or float64 (complex64/complex128 stepped as their real views,
as torch does; float16/bfloat16 with torch's fused semantics: state in the param's dtype,
arithmetic in float32). Dense tensors in any memory order (transposed, channels_last) are
stepped in place; tensors whose memory has gaps (slices) through a contiguous copy. Bad
arguments raise exactly what torch.optim raises (torch's constructor checks them). Sparse
COO gradients (``nn.Embedding(sparse=True)``) step only the rows they name, in fastoptim's
kernel, for SparseAdam, Adagrad and Adam/AdamW (lazy Adam, which torch.optim.Adam refuses); SGD's
go through torch's own sparse step; the other classes raise torch's RuntimeError at ``step``.

Every step checks that each parameter's memory, size, dtype and layout are still those its
cached plan was built over, and rebuilds the plan when not (``p.data = ...``, ``model.double()``,
ZeRO's bucket views); writing ``optimizer.state`` (``state[p] = ...``, ``del``, ``clear()``)
rebuilds it too. Steps of one optimizer from several threads run one at a time; a step is
applied to every group, with every step count advanced, or (on an error) to none.
``foreach``/``fused`` are accepted and ignored (every step is one fused multi-tensor call);
``capturable``/``differentiable`` must be False.

fastoptim's extras, keyword-only after torch's arguments (and per group):

- ``state_bits=16``: bfloat16 state for float32 params (or masters); ``stochastic_rounding``
  and ``seed`` as in the NumPy API (needs ml_dtypes, extra ``bf16``);
- ``master_weights=True``: 16-bit params stepped through float32 masters kept in
  ``state[p]["master_param"]`` (and checkpointed), float32 (or bfloat16) state, the param
  written rounded from the master in the same pass;
- ``step(max_grad_norm=...)``: clipping by the global norm inside the step's pass
  (``last_grad_norm`` holds the norm); ``torch.amp.GradScaler`` unscales and skips inside it;
- ``state_dict(format="torch")``: the checkpoint as torch.optim keeps it, for leaving fastoptim.

Threads: fastoptim and torch each run a thread pool. Use the same count for both
(``fastoptim.set_num_threads(torch.get_num_threads())``, which this module does at import unless
the count was chosen); in a process group each rank defaults to its share of the cores
(``rank_threads.py``); see the README for what was measured.
"""

from __future__ import annotations

import torch

from .. import _core
from ..runtime import threads_chosen
from .adafactor import Adafactor
from .classes import CLASSES
from .lamb import Lamb
from .muon import Muon

if not threads_chosen():  # the same count as torch's pool (a rank's share: rank_threads.py)
    _core.set_num_threads(max(1, torch.get_num_threads()))

globals().update(CLASSES)
__all__ = [*CLASSES, "Muon", "Adafactor", "Lamb"]
