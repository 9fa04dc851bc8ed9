// The one list of optimizers. Everything that names them is generated from it: the enum (ops.h), the
// names and docs that fastmlp._core exports (bindings/names.h), the state layouts, the parser of a
// config dict and the one dispatch (registry.h) that the CPU loop and the CUDA kernels go through.
// An entry is X(enum value, the struct in optimizers/<name>.h); its order is the order users see.
#pragma once

#define FASTMLP_OPTIMIZERS(X) \
  X(sgd, Sgd)                 \
  X(adam, Adam)               \
  X(adamw, AdamW)             \
  X(rmsprop, RMSprop)         \
  X(adagrad, Adagrad)         \
  X(nadam, NAdam)             \
  X(radam, RAdam)             \
  X(adamax, Adamax)
