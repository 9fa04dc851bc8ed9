"""
Batch size and the linear scaling rule
======================================

Batch 1, 8, 64, 512 and the full set, each at the base learning rate (solid) and with the rate
scaled linearly with the batch, with warmup (dashed), until the rule breaks: the loss per
optimizer step and per millisecond (each epoch is timed).

The same figure, from the shell: ``fastmlp lesson batch-size --out figs/``.
"""

# %%
# The lesson computes its numbers with fastmlp's kernels and returns them as a dict;
# ``fastmlp lesson batch-size`` calls these same three functions: compute, summarize, draw.
from fastmlp.lessons import LESSONS

compute, draw, summarize, _ = LESSONS["batch-size"]
data = compute(device="cpu")
print(summarize(data))

# %%
# The figure, drawn from those numbers alone (nothing is computed while drawing).
fig = draw(data)
fig.tight_layout()
