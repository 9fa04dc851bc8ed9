"""
Initialization: zeros, ones, N(0, 1), LeCun, Xavier, He
=======================================================

Fifty tanh layers and fifty ReLU layers under each initializer: the spread of the activations
and of the weight gradients, layer by layer. The bottom row is the first layer of a small tanh
network after training: under zeros and ones every hidden unit stays identical (the symmetry
problem); random initialization lets them differ.

The same figure, from the shell: ``fastmlp lesson init --out figs/``.
"""

# %%
# The lesson computes its numbers with fastmlp's kernels and returns them as a dict;
# ``fastmlp lesson init`` calls these same three functions: compute, summarize, draw.
from fastmlp.lessons import LESSONS

compute, draw, summarize, _ = LESSONS["init"]
data = compute(device="cpu")
print(summarize(data))

# %%
# The figure, drawn from those numbers alone (nothing is computed while drawing).
fig = draw(data)
fig.tight_layout()
