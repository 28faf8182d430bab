// Row-major [L, H, ...] result arrays filled with NaN where a value is undefined, and their indexing.
#pragma once

#include "lib/hdf5.hpp"

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <vector>

namespace circuits::analyses::detail {

// An array of the given shape with every entry NaN ("undefined" in the results file).
inline Array<float> nan_array(std::vector<std::uint64_t> dims) {
    Array<float> a;
    a.dims = std::move(dims);
    a.data.assign(a.size(), std::numeric_limits<float>::quiet_NaN());
    return a;
}

// The row-major offset of `index` in an array of shape `dims` (index.size() == dims.size()).
inline std::uint64_t offset(const std::vector<std::uint64_t>& dims, std::initializer_list<int> index) {
    std::uint64_t o = 0;
    size_t k = 0;
    for (int i : index) o = o * dims[k++] + static_cast<std::uint64_t>(i);
    return o;
}

template <typename T>
T& at(Array<T>& a, std::initializer_list<int> index) {
    return a.data[offset(a.dims, index)];
}
template <typename T>
const T& at(const Array<T>& a, std::initializer_list<int> index) {
    return a.data[offset(a.dims, index)];
}

}  // namespace circuits::analyses::detail
