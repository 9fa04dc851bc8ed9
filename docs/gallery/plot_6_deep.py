"""
A 101-layer MLP that trains
===========================

A ReLU network 101 layers deep, with He initialization, trained with Adam: the training loss per
epoch against the loss before training.

The same figure, from the shell: ``fastmlp lesson deep --out figs/``.
"""

# %%
# The lesson computes its numbers with fastmlp's kernels and returns them as a dict;
# ``fastmlp lesson deep`` calls these same three functions: compute, summarize, draw.
from fastmlp.lessons import LESSONS

compute, draw, summarize, _ = LESSONS["deep"]
data = compute(device="cpu")
print(summarize(data))

# %%
# The figure, drawn from those numbers alone (nothing is computed while drawing).
fig = draw(data)
fig.tight_layout()
