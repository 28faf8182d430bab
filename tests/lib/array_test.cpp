// Tests of Array<T>: row-major indexing, its checks, the filled and NaN constructors, and a non-square
// round trip through H5Writer / H5Reader that would catch a row/column-major mix-up.
#include "lib/array.hpp"

#include "lib/hdf5.hpp"
#include "tests/test_util.hpp"

#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace circuits {
namespace {

TEST_CASE("Array::at is row-major: the last index varies fastest") {
    auto a = Array<int>::filled({2, 3, 4}, 0);
    REQUIRE(a.data.size() == 24);
    a.at({1, 2, 3}) = 7;
    a.at({0, 1, 0}) = 5;
    CHECK(a.data[23] == 7);  // (1 * 3 + 2) * 4 + 3
    CHECK(a.data[4] == 5);   // (0 * 3 + 1) * 4 + 0
    CHECK(a.offset({1, 0, 2}) == 14);
    const auto& c = a;
    CHECK(c.at({1, 2, 3}) == 7);
}

TEST_CASE("Array::at throws for a wrong rank or an index outside its dimension") {
    auto a = Array<float>::filled({2, 3}, 1.0f);
    CHECK_THROWS_AS(a.at({1}), std::out_of_range);
    CHECK_THROWS_AS(a.at({0, 0, 0}), std::out_of_range);
    CHECK_THROWS_AS(a.at({2, 0}), std::out_of_range);
    CHECK_THROWS_AS(a.at({0, 3}), std::out_of_range);
    CHECK_THROWS_AS(a.at({-1, 0}), std::out_of_range);
}

TEST_CASE("Array::filled and Array::nan give every entry the value") {
    const auto f = Array<std::int64_t>::filled({3, 2}, -1);
    CHECK(f.dims == std::vector<std::uint64_t>{3, 2});
    CHECK(f.data == std::vector<std::int64_t>(6, -1));
    const auto n = Array<float>::nan({2, 2, 2});
    CHECK(n.size() == 8);
    for (float v : n.data) CHECK(std::isnan(v));
    CHECK(Array<double>::nan({0, 4}).data.empty());
}

TEST_CASE("Array round trip through H5Writer and H5Reader keeps a non-square [2, 3, 5] array in place") {
    test::TempDir dir;
    const auto path = dir.file("a.h5");
    auto a = Array<float>::filled({2, 3, 5}, 0.0f);
    auto ints = Array<std::int64_t>::filled({3, 2}, 0);
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 5; ++k) a.at({i, j, k}) = float(100 * i + 10 * j + k);
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 2; ++j) ints.at({i, j}) = 10 * i + j;
    {
        H5Writer w(path);
        w.write("/a", a);
        w.write("/ints", ints);
    }
    const H5Reader r(path);
    const auto b = r.read_float("/a");
    CHECK(b.dims == a.dims);
    CHECK(b.data == a.data);
    CHECK(b.at({1, 2, 4}) == 124.0f);
    CHECK(b.at({0, 1, 3}) == 13.0f);
    const auto slice = r.read_float_slice("/a", {1});  // [3, 5]
    CHECK(slice.dims == std::vector<std::uint64_t>{3, 5});
    CHECK(slice.at({2, 0}) == 120.0f);
    const auto c = r.read_int("/ints");
    CHECK(c.dims == std::vector<std::uint64_t>{3, 2});
    CHECK(c.at({2, 1}) == 21);
    // The same [3, 2] data as an Eigen matrix: entry (i, j) is row i, column j.
    const Matrix m = r.read_matrix("/ints", 3, 2);
    CHECK(m(2, 1) == 21.0f);
    CHECK(m(1, 0) == 10.0f);
}

}  // namespace
}  // namespace circuits
