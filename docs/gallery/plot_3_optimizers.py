"""
Ten optimizers on one problem
=============================

Full-batch gradient descent, SGD with batch 1, mini-batch SGD, momentum, Adam, RMSprop, Adagrad,
NAdam, RAdam and Adamax fit one curve with the same network. The left panel is the training loss
per epoch, the right one per millisecond of wall time.

The same figure, from the shell: ``fastmlp lesson optimizers --out figs/``.
"""

# %%
# The lesson computes its numbers with fastmlp's kernels and returns them as a dict;
# ``fastmlp lesson optimizers`` calls these same three functions: compute, summarize, draw.
from fastmlp.lessons import LESSONS

compute, draw, summarize, _ = LESSONS["optimizers"]
data = compute(device="cpu")
print(summarize(data))

# %%
# The figure, drawn from those numbers alone (nothing is computed while drawing).
fig = draw(data)
fig.tight_layout()
