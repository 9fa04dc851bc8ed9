"""
The loss landscape of a single neuron
=====================================

The mean squared error of ``y = a·x + b`` on the women data (height in, weight out) over a grid of
121 × 121 pairs ``(a, b)``. One batched ``fastmlp.ops.dense_forward`` call evaluates all 14,641 pairs,
each pair being one output unit of a 1 → 14,641 layer, and the MSE kernel scores each. The red path
is full-batch gradient descent from a random start; the star is the least-squares minimum, which
the path reaches.

The same figure, from the shell: ``fastmlp lesson landscape --out figs/``.
"""

# %%
# The lesson computes its numbers with fastmlp's kernels and returns them as a dict;
# ``fastmlp lesson landscape`` calls these same three functions: compute, summarize, draw.
from fastmlp.lessons import LESSONS

compute, draw, summarize, _ = LESSONS["landscape"]
data = compute(device="cpu")
print(summarize(data))

# %%
# The figure, drawn from those numbers alone (nothing is computed while drawing).
fig = draw(data)
fig.tight_layout()
