"""
Overfitting and dropout
=======================

Twenty noisy samples of sin(x) and a 1-128-128-1 ReLU network: without dropout the training loss keeps
falling while the loss on the noise-free curve rises (overfitting, the first problem of plain
gradient descent); inverted dropout of 0.3 and 0.5 in both hidden layers trains a thinned network at
each step, so the training loss stays higher and the validation loss lower.

The same figure, from the shell: ``fastmlp lesson dropout --out figs/``.
"""

# %%
# The lesson fits the network once per dropout rate with fastmlp's kernels (full-batch Adam) and
# returns the losses per epoch; ``fastmlp lesson dropout`` calls these same three functions.
from fastmlp.lessons import LESSONS

compute, draw, summarize, _ = LESSONS["dropout"]
data = compute(device="cpu")
print(summarize(data))

# %%
# The figure, drawn from those numbers alone.
fig = draw(data)
fig.tight_layout()
