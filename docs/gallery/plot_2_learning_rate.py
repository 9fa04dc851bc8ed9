"""
The learning rate: too small, right, too large
==============================================

Full-batch gradient descent on the same single neuron with three learning rates: 0.002 crawls,
0.1 converges, and 1.05 diverges. The lesson flags the diverging rate, and nothing crashes.

The same figure, from the shell: ``fastmlp lesson learning-rate --out figs/``.
"""

# %%
# The lesson computes its numbers with fastmlp's kernels and returns them as a dict;
# ``fastmlp lesson learning-rate`` calls these same three functions: compute, summarize, draw.
from fastmlp.lessons import LESSONS

compute, draw, summarize, _ = LESSONS["learning-rate"]
data = compute(device="cpu")
print(summarize(data))

# %%
# The figure, drawn from those numbers alone (nothing is computed while drawing).
fig = draw(data)
fig.tight_layout()
