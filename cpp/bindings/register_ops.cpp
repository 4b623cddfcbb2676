// Operations on weights beside the update rules: the exponential moving average.
#include <pybind11/pybind11.h>

#include <cmath>
#include <vector>

#include "bindings/register.hpp"
#include "core/buffers.hpp"
#include "core/dispatch.hpp"
#include "core/parallel.hpp"
#include "core/segments.hpp"

namespace py = pybind11;

namespace fastoptim {
namespace {

// averages[i] = lerp(averages[i], params[i], 1 - decay) for every i (or a copy, first=True),
// one multi-tensor call split over the threads.
void ema_update_py(py::list averages, py::list params, double decay, bool first) {
  if (!std::isfinite(decay) || decay < 0 || decay > 1)
    throw py::value_error("invalid decay: " + std::to_string(decay) + " (must be in [0, 1])");
  const std::size_t n = py::len(params);
  if (py::len(averages) != n)
    throw py::value_error("averages: " + std::to_string(py::len(averages)) + " arrays for " + std::to_string(n) +
                          " params");
  if (n == 0) return;
  const Dtype dtype = array_dtype(params[0], Label{"params", nullptr, 0});
  Segments seg;
  seg.elem_size.fill(dtype_size(dtype));
  seg.ptrs.resize(n);
  seg.offsets.resize(n + 1);
  WrittenRanges written;
  std::vector<ArrayRef> read(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Label pl{"params", nullptr, i}, al{"averages", nullptr, i};
    read[i] = check_array(params[i], pl, dtype, false);
    const ArrayRef a = check_array(averages[i], al, dtype, true, params[i]);
    written.add(a, al);
    seg.ptrs[i] = {a.data, read[i].data, nullptr, nullptr, nullptr, nullptr};
    seg.offsets[i + 1] = seg.offsets[i] + a.size;
  }
  written.seal();
  for (std::size_t i = 0; i < n; ++i) written.check_disjoint(read[i], Label{"params", nullptr, i});
  const EmaFn ema = active_isa().ema[dtype];
  py::gil_scoped_release nogil;
  parallel_ranges(seg.total(), 64 / seg.elem_size[0], [&](std::size_t lo, std::size_t hi) {
    seg.for_each_piece(lo, hi, 0, 2, [&](void* const* s, std::size_t cnt, std::size_t) {
      ema(s[0], s[1], cnt, decay, first);
    });
  });
}

}  // namespace

void register_ops(py::module_& m) {
  m.def("ema_update", &ema_update_py, py::arg("averages"), py::arg("params"), py::arg("decay"),
        py::arg("first") = false,
        "averages[i] = lerp(averages[i], params[i], 1 - decay) (first=True: a copy), in place, one call for all.");
}

}  // namespace fastoptim
