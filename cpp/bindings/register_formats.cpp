// Element formats: bulk float16/bfloat16 conversions (the kernels' own), the 8-bit block size.
#include <pybind11/pybind11.h>

#include "bindings/register.hpp"
#include "core/buffers.hpp"
#include "core/dispatch.hpp"

namespace py = pybind11;

namespace fastoptim {

void register_formats(py::module_& m) {
  m.attr("BLOCK8_SIZE") = kBlock8Size;
  m.def(
      "narrow",
      [](py::handle x, py::handle out) {
        const ArrayRef in = check_array(x, Label{"x", nullptr, 0}, kF32, false);
        const LowDtype fmt = low_dtype(out, Label{"out", nullptr, 0});
        const ArrayRef o = check_low_array(out, Label{"out", nullptr, 0}, fmt, true, x);
        active_isa().narrow[fmt](static_cast<const float*>(in.data), static_cast<std::uint16_t*>(o.data), in.size);
      },
      py::arg("x"), py::arg("out"), "out[...] = x rounded to out's 16-bit format (nearest, ties to even).");
  m.def(
      "widen",
      [](py::handle x, py::handle out) {
        const LowDtype fmt = low_dtype(x, Label{"x", nullptr, 0});
        const ArrayRef in = check_low_array(x, Label{"x", nullptr, 0}, fmt, false, py::handle());
        const ArrayRef o = check_array(out, Label{"out", nullptr, 0}, kF32, true, x);
        active_isa().widen[fmt](static_cast<const std::uint16_t*>(in.data), static_cast<float*>(o.data), in.size);
      },
      py::arg("x"), py::arg("out"), "out[...] = x (float16/bfloat16) as float32, exactly.");
}

}  // namespace fastoptim
