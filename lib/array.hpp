// A dense N-dimensional array in row-major (C) order: the one shape results and model datasets take.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace circuits {

// `dims` outermost first; entry (i0, i1, ..., ik) lives at ((i0 * d1 + i1) * d2 + ...) * dk + ik.
// A plain aggregate, so `Array<double>{{n, 5}, {}}` builds an empty array of the given shape to push
// rows into. Independent of HDF5: H5Reader and H5Writer (lib/hdf5.hpp) read and write it.
template <typename T>
struct Array {
    std::vector<std::uint64_t> dims;
    std::vector<T> data;

    // An array of shape `dims` with every entry `value`.
    static Array filled(std::vector<std::uint64_t> dims, T value) {
        Array a{std::move(dims), {}};
        a.data.assign(a.size(), value);
        return a;
    }
    // An array of shape `dims` with every entry NaN, the value results files store where a quantity
    // is undefined (same-layer pairs, absent positions).
    static Array nan(std::vector<std::uint64_t> dims) {
        static_assert(std::numeric_limits<T>::has_quiet_NaN, "Array::nan needs a floating-point type");
        return filled(std::move(dims), std::numeric_limits<T>::quiet_NaN());
    }

    std::uint64_t size() const {
        std::uint64_t n = 1;
        for (auto d : dims) n *= d;
        return n;
    }

    // The entry at `index`, one index per dimension, e.g. a.at({l, h, i}) of an [L, H, V] array.
    // Throws std::out_of_range when the rank differs or an index is outside its dimension.
    T& at(std::initializer_list<std::int64_t> index) { return data[offset(index)]; }
    const T& at(std::initializer_list<std::int64_t> index) const { return data[offset(index)]; }

    // The row-major offset of `index` (checked as at() is).
    std::size_t offset(std::initializer_list<std::int64_t> index) const {
        if (index.size() != dims.size())
            throw std::out_of_range("Array: " + std::to_string(index.size()) + " indices for " +
                                    std::to_string(dims.size()) + " dimensions");
        std::uint64_t o = 0;
        std::size_t d = 0;
        for (const auto i : index) {
            if (i < 0 || static_cast<std::uint64_t>(i) >= dims[d])
                throw std::out_of_range("Array: index " + std::to_string(i) + " of dimension " + std::to_string(d) +
                                        " outside [0, " + std::to_string(dims[d]) + ")");
            o = o * dims[d++] + static_cast<std::uint64_t>(i);
        }
        return static_cast<std::size_t>(o);
    }
};

}  // namespace circuits
