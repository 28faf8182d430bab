// Older spellings of Array<T>::nan and Array<T>::at (lib/array.hpp) for the [L, H, ...] result arrays,
// kept only so that the pass bodies being reworked in parallel (issue 11, part C) still compile.
#pragma once

#include "lib/array.hpp"

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace circuits::analyses::detail {

inline Array<float> nan_array(std::vector<std::uint64_t> dims) {
    return Array<float>::nan(std::move(dims));
}

template <typename T>
T& at(Array<T>& a, std::initializer_list<std::int64_t> index) {
    return a.at(index);
}
template <typename T>
const T& at(const Array<T>& a, std::initializer_list<std::int64_t> index) {
    return a.at(index);
}

}  // namespace circuits::analyses::detail
