// Validation of the NumPy buffers handed to the kernels: dtype, C-contiguity, alignment,
// writeability, shape, and that no buffer that is written overlaps any other buffer.
// Every check runs before any kernel writes; errors name the offending argument.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "isa_table.hpp"

namespace fastoptim {

namespace py = pybind11;

// Names an argument lazily, e.g. "params[3]", "grads[0]", "state 'exp_avg'[2]".
struct Label {
  const char* base;
  const char* key;  // nullptr for params/grads
  std::size_t index;
  std::string str() const;
};

struct ArrayRef {
  void* data;
  std::size_t size;    // elements
  std::size_t nbytes;
};

const char* dtype_name(Dtype d);
std::size_t dtype_size(Dtype d);

// Dtype of an array (TypeError unless it is a float32 or float64 ndarray in native byte order).
Dtype array_dtype(py::handle obj, const Label& label);

// The 16-bit format of an array: numpy.float16, or bfloat16 (ml_dtypes); TypeError otherwise.
LowDtype low_dtype(py::handle obj, const Label& label);
const char* low_dtype_name(LowDtype d);

// check_array for 16-bit arrays (mixed-precision grads and params).
ArrayRef check_low_array(py::handle obj, const Label& label, LowDtype want, bool writable, py::handle like);

// Checks obj is an ndarray of dtype `want`, C-contiguous, aligned, writeable if `writable`,
// and, if `like` is given, of the same shape. Throws TypeError/ValueError naming `label`.
ArrayRef check_array(py::handle obj, const Label& label, Dtype want, bool writable,
                     py::handle like = py::handle());

// Checks obj is a writeable, C-contiguous, aligned ndarray of exactly dtype `want` holding `size`
// elements (any shape): the layout of auxiliary buffers such as 8-bit codes and their scales.
ArrayRef check_plain(py::handle obj, const Label& label, const py::dtype& want, std::size_t size);

// A step counter the caller keeps and a step advances by one: a writeable, aligned 1-element
// array of int64, float32 (torch's step tensors) or float64 in native byte order.
enum class CounterType { kI64, kF32, kF64 };
struct Counter {
  void* data;
  CounterType type;
};
Counter check_counter(py::handle obj, const Label& label);
// The count a step makes of it: the counter plus one in the counter's own type (torch advances
// a float32 step tensor in float32), as a double; and advancing it so.
double counter_after_step(const Counter& c);
void advance(const Counter& c);

// Memory ranges of buffers that a step writes, sorted, with their labels; answers whether
// another range overlaps any of them.
class WrittenRanges {
 public:
  void add(const ArrayRef& a, const Label& label);
  // Sorts and throws ValueError if two added ranges overlap.
  void seal();
  // Throws ValueError naming both if `a` overlaps a sealed range.
  void check_disjoint(const ArrayRef& a, const Label& label) const;
  // Throws ValueError naming both if a range of `other` overlaps one of these (both sealed).
  void check_disjoint_from(const WrittenRanges& other) const;

 private:
  struct Range {
    std::uintptr_t lo, hi;
    Label label;
  };
  std::vector<Range> ranges_;
};

// The arrays a plan was built over, as they were then (memory, dtype, size, layout). A NumPy
// array can change under a plan without a new object: ndarray.resize(refcheck=False) moves
// its memory, assigning .dtype or .shape re-interprets it, setflags(write=False) freezes it.
// check() runs before every step and refuses a changed array by name.
class BoundArrays {
 public:
  // obj must stay alive as long as this (the plan keeps a reference).
  void add(py::handle obj, const ArrayRef& ref, const Label& label);
  // Throws ValueError naming the first array that is no longer what the plan was built over.
  void check() const;

 private:
  struct Bound {
    PyObject* obj;
    void* data;
    std::size_t size;
    int type_num;
    int flags;
    Label label;
  };
  std::vector<Bound> bound_;
};

}  // namespace fastoptim
