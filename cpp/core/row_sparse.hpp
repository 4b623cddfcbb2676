// Row-sparse gradients (an embedding table's): a pair (indices, values) names rows of a parameter
// seen as a table of equal rows, one gradient row of `values` per index. The rows named are
// stepped by the rule's element kernel and no others; a row named more than once gets the sum of
// its gradient rows, added in the order they appear (torch's coalesce), before the step.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "core/buffers.hpp"

namespace fastoptim {

namespace py = pybind11;

struct RowSparseGrad {
  std::size_t row_len = 0;               // elements per row
  std::vector<std::size_t> rows;         // the rows stepped, increasing, each once
  std::vector<const void*> grad_rows;    // per stepped row: its gradient row (in values or sums)
  std::vector<unsigned char> sums;       // the summed gradient rows of rows named more than once
  ArrayRef values{nullptr, 0, 0};        // the values array (checked against what the step writes)
};

// Whether a gradient entry is row-sparse: a tuple (indices, values).
bool is_row_sparse(py::handle entry);

// Validates the pair against a parameter of `param_size` elements and element type `dtype`:
// indices a 1-D integer array, values a C-contiguous array of `dtype` with one row per index
// (shape (len(indices), *row_shape)), rows of a size dividing the parameter's, every index in
// [0, param_size / row_len). Then sorts and sums duplicates. Errors name `label`.
RowSparseGrad coalesce_rows(py::handle entry, std::size_t param_size, Dtype dtype, const Label& label);

}  // namespace fastoptim
