// Optimizer updates: one fused pass over each parameter (read p, g, state; write p, state).
// SGD follows torch.optim.SGD's documented algorithm exactly:
//   g <- g + weight_decay * p
//   if momentum: buf <- g on the first step, else momentum * buf + (1 - dampening) * g
//                g <- g + momentum * buf if nesterov, else buf
//   p <- p - lr * g
#include "fastmlp/ops.h"

namespace fastmlp {

int optimizer_state_count(const OptimizerSpec& spec) {
  switch (spec.kind) {
    case Optimizer::sgd: return spec.momentum != 0.0 ? 1 : 0;
  }
  return 0;
}

template <class T>
void optimizer_step(const OptimizerSpec& spec, double lr_d, std::int64_t step, T* param, const T* grad,
                    T* const* state, index_t count) {
  const T lr = T(lr_d), wd = T(spec.weight_decay);
  switch (spec.kind) {
    case Optimizer::sgd: {
      if (spec.momentum == 0.0) {
        if (spec.weight_decay == 0.0) {
          for (index_t i = 0; i < count; ++i) param[i] -= lr * grad[i];
        } else {
          for (index_t i = 0; i < count; ++i) param[i] -= lr * (grad[i] + wd * param[i]);
        }
        return;
      }
      const T mu = T(spec.momentum), damp = T(1.0 - spec.dampening);
      T* buf = state[0];
      const bool first = step <= 1;
      for (index_t i = 0; i < count; ++i) {
        T g = grad[i] + wd * param[i];
        T b = first ? g : mu * buf[i] + damp * g;
        buf[i] = b;
        param[i] -= lr * (spec.nesterov ? g + mu * b : b);
      }
      return;
    }
  }
}

template void optimizer_step<float>(const OptimizerSpec&, double, std::int64_t, float*, const float*,
                                    float* const*, index_t);
template void optimizer_step<double>(const OptimizerSpec&, double, std::int64_t, double*, const double*,
                                     double* const*, index_t);

}  // namespace fastmlp
