"""
The perceptron, and XOR
=======================

A single unit-step perceptron trained by Rosenblatt's rule (``w += lr (t − y) x``) learns AND and
OR (it converges in 4 epochs) and cannot learn XOR (still wrong after 100 epochs: no line separates
it). A 2-2-1 sigmoid MLP trained with cross-entropy (``loss="bce"``) learns XOR. The panels show
the four decision regions.

The same figure, from the shell: ``fastmlp lesson perceptron --out figs/``.
"""

# %%
# The lesson computes its numbers with fastmlp's kernels and returns them as a dict;
# ``fastmlp lesson perceptron`` calls these same three functions: compute, summarize, draw.
from fastmlp.lessons import LESSONS

compute, draw, summarize, _ = LESSONS["perceptron"]
data = compute(device="cpu")
print(summarize(data))

# %%
# The figure, drawn from those numbers alone (nothing is computed while drawing).
fig = draw(data)
fig.tight_layout()
