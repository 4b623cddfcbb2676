#include "buffers.hpp"

#include <algorithm>
#include <sstream>

namespace fastoptim {
namespace {

using npy = py::detail::npy_api;
constexpr char kHostOrderChar = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? '<' : '>';

[[noreturn]] void type_error(const Label& l, const std::string& what) {
  throw py::type_error(l.str() + " " + what);
}
[[noreturn]] void value_error(const Label& l, const std::string& what) {
  throw py::value_error(l.str() + " " + what);
}

std::size_t elements(const py::detail::PyArray_Proxy* a) {
  std::size_t size = 1;
  for (int d = 0; d < a->nd; ++d) size *= std::size_t(a->dimensions[d]);
  return size;
}

std::string shape_str(py::handle obj) {
  return py::str(obj.attr("shape")).cast<std::string>();
}

}  // namespace

std::string Label::str() const {
  std::ostringstream os;
  if (key) os << base << " '" << key << "'[" << index << "]";
  else os << base << "[" << index << "]";
  return os.str();
}

const char* dtype_name(Dtype d) { return d == kF32 ? "float32" : "float64"; }
std::size_t dtype_size(Dtype d) { return d == kF32 ? 4 : 8; }

Dtype array_dtype(py::handle obj, const Label& label) {
  if (!py::isinstance<py::array>(obj))
    type_error(label, "must be a numpy.ndarray, got " +
                          std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  // Read off the descriptor directly (no dtype object per array: this runs per gradient per step).
  const auto* descr = py::detail::array_descriptor_proxy(py::detail::array_proxy(obj.ptr())->descr);
  const bool native = descr->byteorder == '=' || descr->byteorder == '|' || descr->byteorder == kHostOrderChar;
  if (native && descr->type_num == npy::NPY_FLOAT_) return kF32;
  if (native && descr->type_num == npy::NPY_DOUBLE_) return kF64;
  type_error(label, "has dtype " + std::string(py::str(py::reinterpret_borrow<py::array>(obj).dtype())) +
                        "; fastoptim steps float32 or float64 arrays in native byte order");
}

namespace {
// Layout checks shared by every array a kernel reads or writes.
ArrayRef check_layout(py::handle obj, const Label& label, bool writable, py::handle like, std::size_t itemsize) {
  auto* proxy = py::detail::array_proxy(obj.ptr());
  if (!(proxy->flags & npy::NPY_ARRAY_C_CONTIGUOUS_))
    value_error(label, "is not C-contiguous (use numpy.ascontiguousarray, or step a FlatParams arena)");
  if (!(proxy->flags & npy::NPY_ARRAY_ALIGNED_)) value_error(label, "is not aligned to its dtype");
  if (writable && !(proxy->flags & npy::NPY_ARRAY_WRITEABLE_))
    value_error(label, "is read-only; the step writes it in place");
  if (like) {
    auto* ref = py::detail::array_proxy(like.ptr());
    bool same = proxy->nd == ref->nd;
    for (int d = 0; same && d < proxy->nd; ++d) same = proxy->dimensions[d] == ref->dimensions[d];
    if (!same)
      value_error(label, "has shape " + shape_str(obj) + " but its parameter has shape " + shape_str(like));
  }
  const std::size_t size = elements(proxy);
  return ArrayRef{proxy->data, size, size * itemsize};
}
}  // namespace

ArrayRef check_array(py::handle obj, const Label& label, Dtype want, bool writable, py::handle like) {
  const Dtype got = array_dtype(obj, label);
  if (got != want)
    type_error(label, std::string("has dtype ") + dtype_name(got) + ", expected " + dtype_name(want) +
                          " (all arrays of one parameter group share one dtype)");
  return check_layout(obj, label, writable, like, dtype_size(want));
}

const char* low_dtype_name(LowDtype d) { return d == kF16 ? "float16" : "bfloat16"; }

LowDtype low_dtype(py::handle obj, const Label& label) {
  if (!py::isinstance<py::array>(obj))
    type_error(label, "must be a numpy.ndarray, got " +
                          std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  const auto* descr = py::detail::array_descriptor_proxy(py::detail::array_proxy(obj.ptr())->descr);
  constexpr int kNpyHalf = 23;
  static int bf16_type = -1;  // ml_dtypes registers bfloat16 as a user type; learnt on first sight
  if (descr->type_num == kNpyHalf && descr->byteorder != (kHostOrderChar == '<' ? '>' : '<')) return kF16;
  if (descr->type_num == bf16_type) return kBF16;
  const py::dtype dt = py::reinterpret_borrow<py::array>(obj).dtype();
  if (py::str(dt.attr("name")).cast<std::string>() == "bfloat16" && dt.itemsize() == 2) {
    bf16_type = descr->type_num;
    return kBF16;
  }
  type_error(label, "has dtype " + std::string(py::str(dt)) + "; mixed precision takes float16 or bfloat16");
}

ArrayRef check_low_array(py::handle obj, const Label& label, LowDtype want, bool writable, py::handle like) {
  const LowDtype got = low_dtype(obj, label);
  if (got != want)
    type_error(label, std::string("has dtype ") + low_dtype_name(got) + ", expected " + low_dtype_name(want) +
                          " like the group's params");
  return check_layout(obj, label, writable, like, 2);
}

ArrayRef check_plain(py::handle obj, const Label& label, const py::dtype& want, std::size_t size) {
  if (!py::isinstance<py::array>(obj))
    type_error(label, "must be a numpy.ndarray, got " +
                          std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!arr.dtype().equal(want))
    type_error(label, "has dtype " + std::string(py::str(arr.dtype())) + ", expected " + std::string(py::str(want)));
  auto* proxy = py::detail::array_proxy(obj.ptr());
  if (!(proxy->flags & npy::NPY_ARRAY_C_CONTIGUOUS_)) value_error(label, "is not C-contiguous");
  if (!(proxy->flags & npy::NPY_ARRAY_ALIGNED_)) value_error(label, "is not aligned to its dtype");
  if (!(proxy->flags & npy::NPY_ARRAY_WRITEABLE_)) value_error(label, "is read-only; the step writes it in place");
  if (std::size_t(arr.size()) != size)
    value_error(label, "has " + std::to_string(arr.size()) + " elements, expected " + std::to_string(size));
  return ArrayRef{proxy->data, size, size * std::size_t(arr.itemsize())};
}

namespace {
constexpr int kBoundFlags = npy::NPY_ARRAY_C_CONTIGUOUS_ | npy::NPY_ARRAY_ALIGNED_ | npy::NPY_ARRAY_WRITEABLE_;
}  // namespace

void BoundArrays::add(py::handle obj, const ArrayRef& ref, const Label& label) {
  const auto* a = py::detail::array_proxy(obj.ptr());
  const int type_num = py::detail::array_descriptor_proxy(a->descr)->type_num;
  bound_.push_back(Bound{obj.ptr(), ref.data, ref.size, type_num, a->flags & kBoundFlags, label});
}

void BoundArrays::check() const {
  for (const Bound& b : bound_) {
    const auto* a = py::detail::array_proxy(b.obj);
    if (a->data != b.data || (a->flags & kBoundFlags) != b.flags ||
        py::detail::array_descriptor_proxy(a->descr)->type_num != b.type_num || elements(a) != b.size)
      throw py::value_error(b.label.str() + " was changed in place (its memory, dtype, size, layout or "
                            "writeability) after the optimizer was built over it; build the optimizer "
                            "again over the arrays as they are now");
  }
}

Counter check_counter(py::handle obj, const Label& label) {
  // Read off the array's fields directly: this runs per counter per step (one per torch param).
  if (!py::isinstance<py::array>(obj)) type_error(label, "must be a numpy.ndarray");
  const auto* a = py::detail::array_proxy(obj.ptr());
  if (elements(a) != 1) value_error(label, "must hold exactly one element");
  if (!(a->flags & npy::NPY_ARRAY_WRITEABLE_)) value_error(label, "is read-only");
  if (!(a->flags & npy::NPY_ARRAY_ALIGNED_)) value_error(label, "is not aligned");
  const auto* descr = py::detail::array_descriptor_proxy(a->descr);
  const bool native = descr->byteorder == '=' || descr->byteorder == '|' || descr->byteorder == kHostOrderChar;
  const bool int64 = descr->type_num == npy::NPY_LONGLONG_ || (descr->type_num == npy::NPY_LONG_ && sizeof(long) == 8);
  if (native && int64) return {a->data, CounterType::kI64};
  if (native && descr->type_num == npy::NPY_FLOAT_) return {a->data, CounterType::kF32};
  if (native && descr->type_num == npy::NPY_DOUBLE_) return {a->data, CounterType::kF64};
  type_error(label, "must be int64, float32 or float64, got " +
                        std::string(py::str(py::reinterpret_borrow<py::array>(obj).dtype())));
}

double counter_after_step(const Counter& c) {
  switch (c.type) {
    case CounterType::kI64: return double(*static_cast<const std::int64_t*>(c.data) + 1);
    case CounterType::kF32: return double(*static_cast<const float*>(c.data) + 1.0f);
    case CounterType::kF64: return *static_cast<const double*>(c.data) + 1.0;
  }
  return 0.0;
}

void advance(const Counter& c) {
  switch (c.type) {
    case CounterType::kI64: *static_cast<std::int64_t*>(c.data) += 1; break;
    case CounterType::kF32: *static_cast<float*>(c.data) += 1.0f; break;
    case CounterType::kF64: *static_cast<double*>(c.data) += 1.0; break;
  }
}

void WrittenRanges::add(const ArrayRef& a, const Label& label) {
  if (a.nbytes == 0) return;
  const auto lo = reinterpret_cast<std::uintptr_t>(a.data);
  ranges_.push_back(Range{lo, lo + a.nbytes, label});
}

void WrittenRanges::seal() {
  std::sort(ranges_.begin(), ranges_.end(), [](const Range& x, const Range& y) { return x.lo < y.lo; });
  for (std::size_t i = 1; i < ranges_.size(); ++i)
    if (ranges_[i].lo < ranges_[i - 1].hi)
      throw py::value_error(ranges_[i].label.str() + " shares memory with " + ranges_[i - 1].label.str() +
                            "; every parameter and state buffer must be distinct");
}

void WrittenRanges::check_disjoint(const ArrayRef& a, const Label& label) const {
  if (a.nbytes == 0 || ranges_.empty()) return;
  const auto lo = reinterpret_cast<std::uintptr_t>(a.data);
  const auto hi = lo + a.nbytes;
  // First range ending after lo; ranges are disjoint and sorted, so ends are sorted too.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), lo,
                             [](std::uintptr_t v, const Range& r) { return v < r.hi; });
  if (it != ranges_.end() && it->lo < hi)
    throw py::value_error(label.str() + " shares memory with " + it->label.str() +
                          "; gradients must not alias parameters or optimizer state");
}

void WrittenRanges::check_disjoint_from(const WrittenRanges& other) const {
  for (const Range& r : other.ranges_) {
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), r.lo,
                               [](std::uintptr_t v, const Range& x) { return v < x.hi; });
    if (it != ranges_.end() && it->lo < r.hi)
      throw py::value_error(r.label.str() + " of one parameter group shares memory with " + it->label.str() +
                            " of another; a parameter or state buffer may belong to one group only");
  }
}

}  // namespace fastoptim
