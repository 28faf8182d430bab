// Every HDF5 call the project makes, wrapped once: failures become circuits::Error naming file and path.
#pragma once

#include "lib/array.hpp"
#include "lib/model.hpp"

#include <H5Cpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace circuits {

// Whether a dataset claiming `claimed_bytes`, of which the file stores `stored_bytes` (at most the
// file's size), claims more than compression could expand to: over 16 MiB and more than 1100 times
// what is stored (chunks never written, read back as fill values). H5Reader refuses such a dataset
// before allocating its buffer, and check_hdf5_file (lib/hdf5_check.hpp) does not read it.
bool claims_more_than_stored(double claimed_bytes, double stored_bytes);

// Read access to an HDF5 file. Every error names the file and the dataset or attribute.
class H5Reader {
public:
    explicit H5Reader(const std::string& path);
    const std::string& path() const { return m_path; }

    bool exists(const std::string& object) const;  // group or dataset, e.g. "blocks/0/attn/W_Q"
    bool has_attribute(const std::string& object, const std::string& name) const;
    std::vector<std::string> children(const std::string& group) const;
    bool is_group(const std::string& object) const;  // false for a dataset or a missing object
    std::vector<std::string> attribute_names(const std::string& object) const;  // sorted by name

    std::int64_t attr_int(const std::string& object, const std::string& name) const;
    double attr_double(const std::string& object, const std::string& name) const;
    std::string attr_string(const std::string& object, const std::string& name) const;

    std::vector<std::uint64_t> dims(const std::string& dataset) const;
    Array<float> read_float(const std::string& dataset) const;    // any float or integer type, converted
    Array<double> read_double(const std::string& dataset) const;
    Array<std::int64_t> read_int(const std::string& dataset) const;
    std::vector<std::string> read_strings(const std::string& dataset) const;  // vlen or fixed, 1-D or scalar
    std::string read_string(const std::string& dataset) const;  // scalar string (or 1-element array)

    // The sub-array at the given leading indices, e.g. {l, h} of an [L, H, V, k] dataset -> [V, k],
    // read without loading the rest. Throws Error when an index is out of range.
    Array<float> read_float_slice(const std::string& dataset, const std::vector<std::uint64_t>& leading) const;
    Array<std::int64_t> read_int_slice(const std::string& dataset, const std::vector<std::uint64_t>& leading) const;

    // A 2-D float dataset checked against the expected shape, as a column-major Eigen matrix.
    Matrix read_matrix(const std::string& dataset, std::int64_t rows, std::int64_t cols) const;
    // A 1-D float dataset of the expected length.
    Vector read_vector(const std::string& dataset, std::int64_t n) const;
    // A 3-D float dataset [n, rows, cols], as n matrices.
    std::vector<Matrix> read_stack(const std::string& dataset, std::int64_t n, std::int64_t rows,
                                   std::int64_t cols) const;

    // The message prefix "FILE: OBJECT" used in errors.
    std::string where(const std::string& object) const;

private:
    std::string m_path;
    std::unique_ptr<H5::H5File> m_file;
    template <typename T>
    Array<T> read_array(const std::string& dataset, const H5::PredType& type) const;
    template <typename T>
    Array<T> read_slice(const std::string& dataset, const std::vector<std::uint64_t>& leading,
                        const H5::PredType& type) const;
};

// Write access to a new HDF5 file (truncated if present). Callers write to a temporary path and
// rename it into place when done (see AtomicOutput).
class H5Writer {
public:
    // compress: deflate numeric datasets of 4096 to 2^24 elements (chunked, shuffled).
    explicit H5Writer(const std::string& path, bool compress = false);
    ~H5Writer();
    H5Writer(const H5Writer&) = delete;
    H5Writer& operator=(const H5Writer&) = delete;

    void create_group(const std::string& group);  // creates parents as needed
    void attr(const std::string& object, const std::string& name, std::int64_t value);
    void attr(const std::string& object, const std::string& name, double value);
    void attr(const std::string& object, const std::string& name, const std::string& value);
    void attr(const std::string& object, const std::string& name, const char* value) {
        attr(object, name, std::string(value));
    }
    void attr(const std::string& object, const std::string& name, int value) {
        attr(object, name, static_cast<std::int64_t>(value));
    }

    void write(const std::string& dataset, const Array<float>& a);
    void write(const std::string& dataset, const Array<double>& a);
    void write(const std::string& dataset, const Array<std::int64_t>& a);
    void write(const std::string& dataset, const Array<std::uint8_t>& a);
    void write_scalar(const std::string& dataset, double value);
    void write_matrix(const std::string& dataset, const Matrix& m);  // stored row-major [rows, cols]
    void write_vector(const std::string& dataset, const Eigen::Ref<const Vector>& v);
    void write_row(const std::string& dataset, const RowVector& v) { write_vector(dataset, v.transpose()); }
    void write_stack(const std::string& dataset, const std::vector<Matrix>& ms);  // [n, rows, cols]
    void write_strings(const std::string& dataset, const std::vector<std::string>& s);  // vlen UTF-8
    void write_string(const std::string& dataset, const std::string& s);               // scalar vlen UTF-8
    void close();

private:
    std::string m_path;
    std::unique_ptr<H5::H5File> m_file;
    bool m_compress = false;
    void write_attribute(const std::string& object, const std::string& name, hid_t file_type, hid_t mem_type,
                         const void* value);
    void ensure_parent(const std::string& dataset);
    template <typename T>
    void write_array(const std::string& dataset, const Array<T>& a, const H5::PredType& mem, const H5::PredType& file);
};

// A file written under a temporary name beside the target and renamed into place by commit();
// destroyed without commit, the temporary is removed, so no half-written output is ever left.
class AtomicOutput {
public:
    explicit AtomicOutput(std::string target);
    ~AtomicOutput();
    AtomicOutput(const AtomicOutput&) = delete;
    AtomicOutput& operator=(const AtomicOutput&) = delete;
    const std::string& temp_path() const { return m_temp; }
    const std::string& target() const { return m_target; }
    void commit();

private:
    std::string m_target;
    std::string m_temp;
    bool m_done = false;
};

// Row-major <-> Eigen conversions used by every reader and writer.
Matrix matrix_from_row_major(const float* data, std::int64_t rows, std::int64_t cols);
std::vector<float> row_major(const Matrix& m);

}  // namespace circuits
