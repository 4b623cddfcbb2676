// Adafactor (matrix/adafactor_step.*): validation of every buffer and hyperparameter, then one
// step over all tensors with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bindings/register.hpp"
#include "core/buffers.hpp"
#include "core/dispatch.hpp"
#include "core/parallel.hpp"
#include "matrix/adafactor_step.hpp"

namespace py = pybind11;

namespace fastoptim {
namespace {

std::string shape_str(const std::vector<py::ssize_t>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

std::vector<py::ssize_t> shape_of(py::handle obj) {
  const auto a = py::reinterpret_borrow<py::array>(obj);
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

double hyper_value(py::handle h, std::size_t gi, int k, const char* name) {
  const double v = py::cast<double>(h[py::int_(k)]);
  if (!std::isfinite(v))
    throw py::value_error("hypers[" + std::to_string(gi) + "]: invalid " + name + ": " + std::to_string(v) +
                          " (must be finite)");
  return v;
}

void require(bool ok, std::size_t gi, const char* name, double v, const char* want) {
  if (!ok)
    throw py::value_error("hypers[" + std::to_string(gi) + "]: invalid " + name + ": " + std::to_string(v) + " (" +
                          want + ")");
}

// A state buffer of one param: an array of exactly `want` shape and the param's dtype, or None
// where the param has no such state.
ArrayRef state_buffer(py::handle obj, const char* name, std::size_t i, Dtype dtype,
                      const std::vector<py::ssize_t>* want) {
  const Label label{name, nullptr, i};
  if (!want) {
    if (!obj.is_none())
      throw py::value_error(label.str() + ": must be None for a param of this shape (" +
                            std::string(std::string(name) == "variances" ? "factored: ≥ 2 dims"
                                                                         : "unfactored: 0 or 1 dims") +
                            ")");
    return ArrayRef{nullptr, 0, 0};
  }
  if (obj.is_none()) throw py::value_error(label.str() + ": is None, but the param needs it");
  const ArrayRef a = check_array(obj, label, dtype, true);
  if (shape_of(obj) != *want)
    throw py::value_error(label.str() + " has shape " + shape_str(shape_of(obj)) + ", expected " + shape_str(*want));
  return a;
}

void adafactor_step_impl(py::list params, py::list grads, py::list row_vars, py::list col_vars, py::list variances,
                         py::list counters, py::list hypers, py::list hyper_index, double* pass_seconds) {
  const std::size_t n = py::len(params);
  const std::pair<const char*, py::list*> lists[] = {{"grads", &grads},         {"row_vars", &row_vars},
                                                     {"col_vars", &col_vars},   {"variances", &variances},
                                                     {"counters", &counters},   {"hyper_index", &hyper_index}};
  for (const auto& [name, l] : lists)
    if (py::len(*l) != n)
      throw py::value_error(std::string(name) + ": " + std::to_string(py::len(*l)) + " entries for " +
                            std::to_string(n) + " params");
  std::vector<AdafactorHyper> hs;
  for (std::size_t gi = 0; gi < py::len(hypers); ++gi) {
    py::handle h = hypers[gi];
    if (py::len(h) != 7)
      throw py::value_error("hypers[" + std::to_string(gi) +
                            "]: expected (lr, beta2_decay, eps1, eps2, d, weight_decay, maximize)");
    AdafactorHyper x{hyper_value(h, gi, 0, "lr"), hyper_value(h, gi, 1, "beta2_decay"),
                     hyper_value(h, gi, 2, "eps[0]"), hyper_value(h, gi, 3, "eps[1]"),
                     hyper_value(h, gi, 4, "d"), hyper_value(h, gi, 5, "weight_decay"),
                     py::cast<bool>(h[py::int_(6)])};
    require(x.lr >= 0, gi, "lr", x.lr, "must be >= 0");
    require(x.beta2_decay <= 0, gi, "beta2_decay", x.beta2_decay, "must be <= 0");
    require(x.eps1 >= 0, gi, "eps[0]", x.eps1, "must be >= 0");
    require(x.eps2 >= 0, gi, "eps[1]", x.eps2, "must be >= 0");
    require(x.d >= 1, gi, "d", x.d, "must be >= 1");
    require(x.weight_decay >= 0, gi, "weight_decay", x.weight_decay, "must be >= 0");
    hs.push_back(x);
  }
  std::vector<AdafactorTensor> ts(n);
  WrittenRanges written;
  std::vector<ArrayRef> read(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Label pl{"params", nullptr, i}, gl{"grads", nullptr, i};
    const Dtype dtype = array_dtype(params[i], pl);
    const ArrayRef p = check_array(params[i], pl, dtype, true);
    read[i] = check_array(grads[i], gl, dtype, false, params[i]);
    const std::vector<py::ssize_t> shape = shape_of(params[i]);
    AdafactorTensor& t = ts[i];
    t.dtype = dtype;
    t.param = p.data;
    t.grad = read[i].data;
    t.numel = p.size;
    t.factored = shape.size() >= 2;
    written.add(p, pl);
    if (t.factored) {
      std::vector<py::ssize_t> rs = shape, cs = shape;
      rs.back() = 1;
      cs[cs.size() - 2] = 1;
      t.rows = std::size_t(shape[shape.size() - 2]);
      t.cols = std::size_t(shape.back());
      t.batches = 1;
      for (std::size_t k = 0; k + 2 < shape.size(); ++k) t.batches *= std::size_t(shape[k]);
      const ArrayRef r = state_buffer(row_vars[i], "row_vars", i, dtype, &rs);
      const ArrayRef c = state_buffer(col_vars[i], "col_vars", i, dtype, &cs);
      state_buffer(variances[i], "variances", i, dtype, nullptr);
      t.row_var = r.data;
      t.col_var = c.data;
      t.variance = nullptr;
      written.add(r, Label{"row_vars", nullptr, i});
      written.add(c, Label{"col_vars", nullptr, i});
    } else {
      state_buffer(row_vars[i], "row_vars", i, dtype, nullptr);
      state_buffer(col_vars[i], "col_vars", i, dtype, nullptr);
      const ArrayRef v = state_buffer(variances[i], "variances", i, dtype, &shape);
      t.batches = 1;
      t.rows = 1;
      t.cols = t.numel;
      t.row_var = t.col_var = nullptr;
      t.variance = v.data;
      written.add(v, Label{"variances", nullptr, i});
    }
    t.counter = check_counter(counters[i], Label{"counters", nullptr, i});
    const py::ssize_t hi = py::cast<py::ssize_t>(hyper_index[i]);
    if (hi < 0 || std::size_t(hi) >= hs.size())
      throw py::value_error("hyper_index[" + std::to_string(i) + "]: " + std::to_string(hi) + " is not an index of hypers");
    t.hyper = int(hi);
  }
  written.seal();
  for (std::size_t i = 0; i < n; ++i) written.check_disjoint(read[i], Label{"grads", nullptr, i});
  py::gil_scoped_release nogil;
  adafactor_step(ts, hs, pass_seconds);
}

void adafactor_step_py(py::list params, py::list grads, py::list row_vars, py::list col_vars, py::list variances,
                       py::list counters, py::list hypers, py::list hyper_index) {
  adafactor_step_impl(params, grads, row_vars, col_vars, variances, counters, hypers, hyper_index, nullptr);
}

py::tuple adafactor_step_timed_py(py::list params, py::list grads, py::list row_vars, py::list col_vars,
                                  py::list variances, py::list counters, py::list hypers, py::list hyper_index) {
  double t[3] = {0, 0, 0};
  adafactor_step_impl(params, grads, row_vars, col_vars, variances, counters, hypers, hyper_index, t);
  return py::make_tuple(t[0], t[1], t[2]);
}

// The streaming probes of the matrix passes' byte shapes (matrix/pass_probe.hpp), over equal
// ranges on the step's threads, as the passes run:
//   "read":    Σ a (+ b)               one (two) float32 read streams
//   "rw_out":  a = 0.5a + g, o = a     (o uint16: a's top half; o float32: a)
//   "half_rw": a = 0.5a + widen(h)     h: uint16 (bfloat16 bits)
double pass_probe_py(const std::string& shape, py::list arrays) {
  const std::size_t na = py::len(arrays);
  const AdafactorKernels& k = active_isa().adafactor[kF32];
  auto f32 = [&](std::size_t i, bool writable, py::handle like) {
    return check_array(arrays[i], Label{"arrays", nullptr, i}, kF32, writable, like);
  };
  if (shape == "read") {
    if (na < 1 || na > 2) throw py::value_error("read: one or two float32 arrays");
    const ArrayRef a = f32(0, false, py::handle());
    const ArrayRef b = na == 2 ? f32(1, false, arrays[0]) : ArrayRef{nullptr, 0, 0};
    const auto* ap = static_cast<const float*>(a.data);
    const auto* bp = static_cast<const float*>(b.data);
    py::gil_scoped_release nogil;
    // The sums are not needed: the kernel is reached through a pointer, so its loads stay.
    parallel_ranges(a.size, 16, [&](std::size_t lo, std::size_t hi) {
      k.probe_read(ap + lo, bp ? bp + lo : nullptr, hi - lo);
    });
    return 0.0;
  }
  if (shape == "rw_out") {
    if (na != 3) throw py::value_error("rw_out: arrays a, g, o");
    const ArrayRef a = f32(0, true, py::handle()), g = f32(1, false, arrays[0]);
    const py::array o = py::reinterpret_borrow<py::array>(arrays[2]);
    const bool half = o.dtype().equal(py::dtype::of<std::uint16_t>());
    const ArrayRef ov = check_plain(arrays[2], Label{"arrays", nullptr, 2},
                                    half ? py::dtype::of<std::uint16_t>() : py::dtype::of<float>(), a.size);
    auto* ap = static_cast<float*>(a.data);
    const auto* gp = static_cast<const float*>(g.data);
    py::gil_scoped_release nogil;
    parallel_ranges(a.size, 32, [&](std::size_t lo, std::size_t hi) {
      if (half)
        k.probe_rw_out16(ap + lo, gp + lo, static_cast<std::uint16_t*>(ov.data) + lo, hi - lo);
      else
        k.probe_rw_out32(ap + lo, gp + lo, static_cast<float*>(ov.data) + lo, hi - lo);
    });
    return 0.0;
  }
  if (shape == "half_rw") {
    if (na != 2) throw py::value_error("half_rw: arrays a, h");
    const ArrayRef a = f32(0, true, py::handle());
    const ArrayRef h = check_plain(arrays[1], Label{"arrays", nullptr, 1}, py::dtype::of<std::uint16_t>(), a.size);
    auto* ap = static_cast<float*>(a.data);
    const auto* hp = static_cast<const std::uint16_t*>(h.data);
    py::gil_scoped_release nogil;
    parallel_ranges(a.size, 32, [&](std::size_t lo, std::size_t hi) { k.probe_half_rw(ap + lo, hp + lo, hi - lo); });
    return 0.0;
  }
  // Pass 3's streams with its column vector (matrix/pass_probe.hpp), over one matrix of `cols`
  // columns cut into blocks as adafactor_step cuts it (column tiles of kAfTileCols, rows in blocks
  // of at least kAfBlockElems elements and kAfMinRows rows), shared out among the step's threads.
  if (shape == "rw_cols") {
    if (na != 4) throw py::value_error("rw_cols: arrays a, g, w, cols (int)");
    const std::size_t cols = arrays[3].cast<std::size_t>();
    const ArrayRef a = f32(0, true, py::handle()), g = f32(1, false, arrays[0]);
    if (cols == 0 || a.size % cols != 0) throw py::value_error("cols must divide the arrays' size");
    const ArrayRef w = check_plain(arrays[2], Label{"arrays", nullptr, 2}, py::dtype::of<float>(), cols);
    const std::size_t rows = a.size / cols, tile = std::min(cols, kAfTileCols);
    const std::size_t per = std::min(std::max((kAfBlockElems + tile - 1) / tile, kAfMinRows), rows);
    const std::size_t row_blocks = (rows + per - 1) / per, tiles = (cols + tile - 1) / tile;
    auto* ap = static_cast<float*>(a.data);
    const auto* gp = static_cast<const float*>(g.data);
    const auto* wp = static_cast<const float*>(w.data);
    struct Ctx {
      float* a;
      const float *g, *w;
      std::size_t rows, cols, tile, per, tiles;
      const AdafactorKernels* k;
    } ctx{ap, gp, wp, rows, cols, tile, per, tiles, &k};
    py::gil_scoped_release nogil;
    run_parallel(
        threads_for(a.size), int(row_blocks * tiles),
        [](void* p, int b) {
          const Ctx& x = *static_cast<const Ctx*>(p);
          const std::size_t r0 = std::size_t(b) / x.tiles * x.per, c0 = std::size_t(b) % x.tiles * x.tile;
          const std::size_t nr = std::min(x.per, x.rows - r0), nc = std::min(x.tile, x.cols - c0);
          const std::size_t off = r0 * x.cols + c0;
          x.k->probe_rw_cols(x.a + off, x.g + off, x.w + c0, nr, nc, x.cols);
        },
        &ctx);
    return 0.0;
  }
  throw py::value_error("shape: one of 'read', 'rw_out', 'half_rw', 'rw_cols', got '" +
                        shape + "'");
}

}  // namespace

void register_adafactor(py::module_& m) {
  m.def("adafactor_step", &adafactor_step_py, py::arg("params"), py::arg("grads"), py::arg("row_vars"),
        py::arg("col_vars"), py::arg("variances"), py::arg("counters"), py::arg("hypers"), py::arg("hyper_index"),
        "One torch.optim.Adafactor step over every param, in place: factored second moment (row_vars, "
        "col_vars shaped (..., R, 1) and (..., 1, C)) for params of >= 2 dims, variances for the others "
        "(None where a param has no such state). hypers: (lr, beta2_decay, eps1, eps2, d, weight_decay, "
        "maximize) tuples; hyper_index: which each param uses; counters: each param's step count (1-element "
        "int64/float32/float64 array; each distinct one advanced once). Everything is checked before any write.");
  m.def("adafactor_step_timed", &adafactor_step_timed_py, py::arg("params"), py::arg("grads"), py::arg("row_vars"),
        py::arg("col_vars"), py::arg("variances"), py::arg("counters"), py::arg("hypers"), py::arg("hyper_index"),
        "adafactor_step, returning the wall time in seconds of each of its three passes (benchmarks).");
  m.def("pass_probe", &pass_probe_py, py::arg("shape"), py::arg("arrays"),
        "The streaming probe of a matrix pass's byte shape on the step's threads (bench/matrix_roof.py): "
        "'read' [a] or [a, b]: sums float32 read streams; 'rw_out' [a, g, o]: a = 0.5a + g, o = a (o float32, "
        "or uint16: a's top half); 'half_rw' [a, h]: a = 0.5a + bfloat16 h (uint16 bits). With a matrix's column "
        "vector beside every row (cols: the matrix's width; blocks as adafactor_step cuts the matrix): "
        "'rw_cols' [a, g, w, cols]: a = 0.5a + g·w[c].");
}

}  // namespace fastoptim
