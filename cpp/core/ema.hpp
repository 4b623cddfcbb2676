// Exponential moving average of weights (torch.optim.swa_utils.get_ema_multi_avg_fn):
//   a = lerp(a, p, 1 − decay)            (torch.lerp's two branches, as the rules use it)
// or, on the first update, a = p (AveragedModel copies the params when nothing is averaged yet).
// One read of p, one read and write of a.
#pragma once

template <class T>
void ema_update(void* avg, const void* param, std::size_t n, double decay, bool copy) {
  T* __restrict a = static_cast<T*>(avg);
  const T* __restrict p = static_cast<const T*>(param);
  if (copy) {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) a[i] = p[i];
    return;
  }
  const T w = T(1.0 - decay), wc = T(decay);
  const bool low = (1.0 - decay) < 0.5;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) a[i] = lerp(a[i], p[i], w, wc, low);
}
