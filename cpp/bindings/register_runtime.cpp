// Run time: threads, ISA dispatch, the streaming probe (the memory roof benchmarks compare
// against), build information.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/register.hpp"
#include "build_flags.hpp"
#include "core/buffers.hpp"
#include "core/dispatch.hpp"
#include "core/parallel.hpp"

namespace py = pybind11;

namespace fastoptim {
namespace {

// a_k = 0.5·a_k + g over all rw arrays: the streaming roof of a rule with len(rw) state-like
// streams and one gradient.
void stream_probe_py(py::list rw, py::handle g) {
  const std::size_t n_rw = py::len(rw);
  if (n_rw < 1 || n_rw > 4) throw py::value_error("rw: between 1 and 4 arrays");
  const ArrayRef gr = check_array(g, Label{"g", nullptr, 0}, kF32, false);
  float* a[4] = {};
  WrittenRanges written;
  for (std::size_t k = 0; k < n_rw; ++k) {
    const Label l{"rw", nullptr, k};
    const ArrayRef r = check_array(rw[k], l, kF32, true, g);
    written.add(r, l);
    a[k] = static_cast<float*>(r.data);
  }
  written.seal();
  written.check_disjoint(gr, Label{"g", nullptr, 0});
  const ProbeFn probe = active_isa().probe;
  const float* gp = static_cast<const float*>(gr.data);
  py::gil_scoped_release nogil;
  parallel_ranges(gr.size, 16, [&](std::size_t lo, std::size_t hi) {
    float* shifted[4] = {};
    for (std::size_t k = 0; k < n_rw; ++k) shifted[k] = a[k] + lo;
    probe(shifted, int(n_rw), gp + lo, hi - lo);
  });
}

py::dict build_info() {
  py::dict d;
#if defined(__clang__)
  d["compiler"] = "clang " __clang_version__;
#elif defined(__GNUC__)
  d["compiler"] = "gcc " __VERSION__;
#else
  d["compiler"] = "unknown";
#endif
  d["cxx_flags"] = FASTOPTIM_CXX_FLAGS;
  d["isa_flags"] = FASTOPTIM_ISA_FLAGS;
  d["threads"] = "fastoptim's own pool (std::thread; fork-safe, no OpenMP runtime)";
  return d;
}

}  // namespace

void register_runtime(py::module_& m) {
  m.def("get_num_threads", &num_threads);
  m.def("set_num_threads", [](int n) {
    try {
      set_num_threads(n);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  });
  m.attr("MAX_THREADS") = kMaxThreads;
  m.def("fork_handler_installed", &fork_handler_installed);
  m.def("get_min_elements_per_thread", &min_elements_per_thread);
  m.def("set_min_elements_per_thread", &set_min_elements_per_thread);
  m.def("threads_for", &threads_for, py::arg("numel"));

  m.def("active_isa", [] { return std::string(active_isa().name); });
  m.def("supported_isas", &supported_isas);
  m.def("compiled_isas", &compiled_isas);
  m.def("use_isa", &use_isa, py::arg("name"));

  m.def("stream_probe", &stream_probe_py, py::arg("rw"), py::arg("g"));
  m.def("build_info", &build_info);
}

}  // namespace fastoptim
