// Muon's element-wise passes (matrix/muon.hpp), bound thinly: every buffer checked (dtype,
// layout, size, aliasing) before anything is written, then one multi-tensor call split over the
// threads with the GIL released. The Newton–Schulz products between the two passes run in
// Python on the caller's BLAS (python/fastoptim/muon.py, torch/muon.py).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bindings/register.hpp"
#include "core/buffers.hpp"
#include "core/dispatch.hpp"
#include "core/parallel.hpp"
#include "core/segments.hpp"

namespace py = pybind11;

namespace fastoptim {
namespace {

void check_finite(double x, const char* name) {
  if (!std::isfinite(x)) throw py::value_error(std::string("invalid ") + name + ": " + std::to_string(x) + " (must be finite)");
}

std::size_t check_count(py::list l, std::size_t n, const char* name) {
  if (py::len(l) != n)
    throw py::value_error(std::string(name) + ": " + std::to_string(py::len(l)) + " entries for " + std::to_string(n) +
                          " params");
  return n;
}

// The storage of the update buffers: bfloat16 bits (uint16, index 0) or float32 values (index 1),
// the same for every buffer of the call.
int update_kind(py::handle first) {
  if (!py::isinstance<py::array>(first))
    throw py::type_error("updates[0]: must be a numpy.ndarray, got " +
                         std::string(py::str(py::type::handle_of(first).attr("__name__"))));
  const py::dtype dt = py::reinterpret_borrow<py::array>(first).dtype();
  if (dt.equal(py::dtype::of<std::uint16_t>())) return 0;
  if (dt.equal(py::dtype::of<float>())) return 1;
  throw py::type_error("updates[0]: has dtype " + std::string(py::str(dt)) +
                       ", expected uint16 (bfloat16 bits) or float32 (bfloat16 values)");
}

// bufs[i] = lerp(bufs[i], grads[i], 1 − momentum); updates[i] = bfloat16(nesterov ?
// lerp(grads[i], bufs[i], momentum) : bufs[i]).
void momentum_py(py::list bufs, py::list grads, py::list updates, double momentum, bool nesterov) {
  check_finite(momentum, "momentum");
  const std::size_t n = py::len(grads);
  check_count(bufs, n, "bufs");
  check_count(updates, n, "updates");
  if (n == 0) return;
  const Dtype dtype = array_dtype(grads[0], Label{"grads", nullptr, 0});
  const int kind = update_kind(updates[0]);
  const py::dtype udt = kind == 0 ? py::dtype::of<std::uint16_t>() : py::dtype::of<float>();
  Segments seg;
  seg.elem_size = {dtype_size(dtype), dtype_size(dtype), kind == 0 ? 2u : 4u, 4, 4, 4};
  seg.ptrs.resize(n);
  seg.offsets.resize(n + 1);
  WrittenRanges written;
  std::vector<ArrayRef> read(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Label gl{"grads", nullptr, i}, bl{"bufs", nullptr, i}, ul{"updates", nullptr, i};
    read[i] = check_array(grads[i], gl, dtype, false);
    const ArrayRef b = check_array(bufs[i], bl, dtype, true, grads[i]);
    const ArrayRef u = check_plain(updates[i], ul, udt, read[i].size);
    written.add(b, bl);
    written.add(u, ul);
    seg.ptrs[i] = {b.data, read[i].data, u.data, nullptr, nullptr, nullptr};
    seg.offsets[i + 1] = seg.offsets[i] + b.size;
  }
  written.seal();
  for (std::size_t i = 0; i < n; ++i) written.check_disjoint(read[i], Label{"grads", nullptr, i});
  const MuonMomentumFn fn = active_isa().muon.momentum[dtype][kind];
  py::gil_scoped_release nogil;
  parallel_ranges(seg.total(), 64 / seg.elem_size[0], [&](std::size_t lo, std::size_t hi) {
    seg.for_each_piece(lo, hi, 0, 3, [&](void* const* s, std::size_t cnt, std::size_t) {
      fn(s[0], s[1], s[2], cnt, momentum, nesterov);
    });
  });
}

// params[i] = params[i]·decays[i] + neg_lrs[i]·updates[i] (the product rounded first, as torch's
// mul_ then add_).
void apply_py(py::list params, py::list updates, std::vector<double> decays, std::vector<double> neg_lrs) {
  const std::size_t n = py::len(params);
  check_count(updates, n, "updates");
  if (decays.size() != n || neg_lrs.size() != n)
    throw py::value_error("decays, neg_lrs: one value per param expected");
  for (std::size_t i = 0; i < n; ++i) {
    check_finite(decays[i], "decay (1 - lr * weight_decay)");
    check_finite(neg_lrs[i], "lr (adjusted)");
  }
  if (n == 0) return;
  const Dtype dtype = array_dtype(params[0], Label{"params", nullptr, 0});
  const int kind = update_kind(updates[0]);
  const py::dtype udt = kind == 0 ? py::dtype::of<std::uint16_t>() : py::dtype::of<float>();
  Segments seg;
  seg.elem_size = {dtype_size(dtype), kind == 0 ? 2u : 4u, 4, 4, 4, 4};
  seg.ptrs.resize(n);
  seg.offsets.resize(n + 1);
  WrittenRanges written;
  std::vector<ArrayRef> read(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Label pl{"params", nullptr, i}, ul{"updates", nullptr, i};
    const ArrayRef p = check_array(params[i], pl, dtype, true);
    read[i] = check_plain(updates[i], ul, udt, p.size);
    written.add(p, pl);
    seg.ptrs[i] = {p.data, read[i].data, nullptr, nullptr, nullptr, nullptr};
    seg.offsets[i + 1] = seg.offsets[i] + p.size;
  }
  written.seal();
  for (std::size_t i = 0; i < n; ++i) written.check_disjoint(read[i], Label{"updates", nullptr, i});
  const MuonApplyFn fn = active_isa().muon.apply[dtype][kind];
  py::gil_scoped_release nogil;
  parallel_ranges(seg.total(), 64 / seg.elem_size[0], [&](std::size_t lo, std::size_t hi) {
    seg.for_each_piece(lo, hi, 0, 2, [&](void* const* s, std::size_t cnt, std::size_t first) {
      // the piece's tensor (the last whose offset is <= first; empty ones share it), its own scalars
      const std::size_t t =
          std::size_t(std::upper_bound(seg.offsets.begin(), seg.offsets.end(), first) - seg.offsets.begin()) - 1;
      fn(s[0], s[1], cnt, decays[t], neg_lrs[t]);
    });
  });
}

ArrayRef check_f32(py::handle obj, const char* name, py::handle like = py::handle()) {
  return check_array(obj, Label{name, nullptr, 0}, kF32, true, like);
}

// out = bfloat16(beta·base + alpha·prod), float32 arrays of one shape; out may be prod or base.
void blend_py(py::handle out, py::handle prod, py::handle base, double alpha, double beta) {
  check_finite(alpha, "alpha");
  check_finite(beta, "beta");
  const ArrayRef o = check_f32(out, "out"), p = check_f32(prod, "prod", out), b = check_f32(base, "base", out);
  auto* op = static_cast<float*>(o.data);
  const auto* pp = static_cast<const float*>(p.data);
  const auto* bp = static_cast<const float*>(b.data);
  const auto fn = active_isa().muon.blend_bf16;
  py::gil_scoped_release nogil;
  parallel_ranges(o.size, 16, [&](std::size_t lo, std::size_t hi) { fn(op + lo, pp + lo, bp + lo, hi - lo, alpha, beta); });
}

// x = bfloat16(x / divisor), in place.
void div_py(py::handle x, double divisor) {
  check_finite(divisor, "divisor");
  const ArrayRef a = check_f32(x, "x");
  auto* xp = static_cast<float*>(a.data);
  const auto fn = active_isa().muon.div_bf16;
  py::gil_scoped_release nogil;
  parallel_ranges(a.size, 16, [&](std::size_t lo, std::size_t hi) { fn(xp + lo, hi - lo, divisor); });
}

}  // namespace

void register_muon(py::module_& m) {
  m.def("muon_momentum", &momentum_py, py::arg("bufs"), py::arg("grads"), py::arg("updates"), py::arg("momentum"),
        py::arg("nesterov"),
        "Muon's momentum pass, in place: bufs[i] = lerp(bufs[i], grads[i], 1 - momentum); updates[i] = "
        "bfloat16(nesterov ? lerp(grads[i], bufs[i], momentum) : bufs[i]) as uint16 bits or float32 values.");
  m.def("muon_apply", &apply_py, py::arg("params"), py::arg("updates"), py::arg("decays"), py::arg("neg_lrs"),
        "Muon's apply pass, in place: params[i] = params[i] * decays[i] + neg_lrs[i] * updates[i] (each product "
        "rounded to the params' dtype).");
  m.def("muon_blend_bf16", &blend_py, py::arg("out"), py::arg("prod"), py::arg("base"), py::arg("alpha"),
        py::arg("beta"), "out = bfloat16(beta * base + alpha * prod), float32 arrays (out may be prod or base).");
  m.def("muon_div_bf16", &div_py, py::arg("x"), py::arg("divisor"), "x = bfloat16(x / divisor), float32, in place.");
}

}  // namespace fastoptim
