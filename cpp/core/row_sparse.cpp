#include "core/row_sparse.hpp"

#include <algorithm>
#include <cstring>
#include <utility>
#include <string>

namespace fastoptim {

bool is_row_sparse(py::handle entry) { return PyTuple_Check(entry.ptr()) && PyTuple_GET_SIZE(entry.ptr()) == 2; }

namespace {

[[noreturn]] void value_error(const Label& label, const std::string& what) {
  throw py::value_error(label.str() + " (row-sparse): " + what);
}

// The indices as int64, whatever integer type they come in.
std::vector<std::int64_t> read_indices(py::handle obj, const Label& label) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(label.str() + " (row-sparse): indices must be a numpy.ndarray of integers, got " +
                         std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  auto arr = py::reinterpret_borrow<py::array>(obj);
  const char kind = arr.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw py::type_error(label.str() + " (row-sparse): indices must be integers, got dtype " +
                         std::string(py::str(arr.dtype())));
  if (arr.ndim() != 1) value_error(label, "indices must be 1-D, got " + std::to_string(arr.ndim()) + " dimensions");
  const auto as64 = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
  if (!as64) throw py::error_already_set();
  const std::int64_t* data = as64.data();
  return std::vector<std::int64_t>(data, data + as64.size());
}

}  // namespace

RowSparseGrad coalesce_rows(py::handle entry, std::size_t param_size, Dtype dtype, const Label& label) {
  const auto pair = py::reinterpret_borrow<py::tuple>(entry);
  const std::vector<std::int64_t> idx = read_indices(pair[0], label);
  const std::size_t nnz = idx.size();
  const Dtype got = array_dtype(pair[1], label);
  if (got != dtype)
    throw py::type_error(label.str() + " (row-sparse): values have dtype " + dtype_name(got) + ", expected " +
                         dtype_name(dtype) + " like the param");
  const ArrayRef values = check_array(pair[1], label, dtype, false);
  const auto varr = py::reinterpret_borrow<py::array>(pair[1]);
  if (varr.ndim() < 1 || std::size_t(varr.shape(0)) != nnz)
    value_error(label, "values must have one row per index (" + std::to_string(nnz) + "), got shape " +
                           std::string(py::str(pair[1].attr("shape"))));
  std::size_t row_len = 1;
  for (py::ssize_t d = 1; d < varr.ndim(); ++d) row_len *= std::size_t(varr.shape(d));
  if (row_len == 0 || param_size % row_len != 0)
    value_error(label, "rows of " + std::to_string(row_len) + " elements do not divide the param's " +
                           std::to_string(param_size));
  const std::size_t nrows = param_size / row_len;
  for (std::size_t i = 0; i < nnz; ++i)
    if (idx[i] < 0 || std::size_t(idx[i]) >= nrows)
      value_error(label, "index " + std::to_string(idx[i]) + " (at " + std::to_string(i) + ") is outside [0, " +
                             std::to_string(nrows) + ")");
  RowSparseGrad out;
  out.row_len = row_len;
  out.values = values;
  const std::size_t row_bytes = row_len * dtype_size(dtype);
  const auto* base = static_cast<const unsigned char*>(values.data);
  // (row, position) pairs sorted: by row, and within a row in the order of appearance
  std::vector<std::pair<std::int64_t, std::size_t>> sorted(nnz);
  for (std::size_t i = 0; i < nnz; ++i) sorted[i] = {idx[i], i};
  if (!std::is_sorted(idx.begin(), idx.end())) std::sort(sorted.begin(), sorted.end());
  std::vector<std::size_t> order(nnz);
  for (std::size_t i = 0; i < nnz; ++i) order[i] = sorted[i].second;
  std::size_t repeated = 0;  // rows named more than once
  for (std::size_t j = 0; j < nnz;) {
    std::size_t k = j + 1;
    while (k < nnz && idx[order[k]] == idx[order[j]]) ++k;
    repeated += k - j > 1;
    j = k;
  }
  out.sums.resize(repeated * row_bytes);
  std::size_t next_sum = 0;
  for (std::size_t j = 0; j < nnz;) {
    std::size_t k = j + 1;
    while (k < nnz && idx[order[k]] == idx[order[j]]) ++k;
    out.rows.push_back(std::size_t(idx[order[j]]));
    const unsigned char* first = base + order[j] * row_bytes;
    if (k - j == 1) {
      out.grad_rows.push_back(first);
    } else {  // sum = v[first] + v[second] + ..., in the order the indices name the row
      unsigned char* sum = out.sums.data() + next_sum++ * row_bytes;
      std::memcpy(sum, first, row_bytes);
      for (std::size_t m = j + 1; m < k; ++m) {
        const unsigned char* v = base + order[m] * row_bytes;
        if (dtype == kF32) {
          auto* s = reinterpret_cast<float*>(sum);
          const auto* x = reinterpret_cast<const float*>(v);
          for (std::size_t e = 0; e < row_len; ++e) s[e] = s[e] + x[e];
        } else {
          auto* s = reinterpret_cast<double*>(sum);
          const auto* x = reinterpret_cast<const double*>(v);
          for (std::size_t e = 0; e < row_len; ++e) s[e] = s[e] + x[e];
        }
      }
      out.grad_rows.push_back(sum);
    }
    j = k;
  }
  return out;
}

}  // namespace fastoptim
