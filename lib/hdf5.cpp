// HDF5 access through the C++ API; HDF5's own error printing is silenced and every failure
// becomes a circuits::Error that names the file and the object.
#include "lib/hdf5.hpp"

#include "lib/error.hpp"
#include "lib/hdf5_check.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <atomic>
#include <exception>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace circuits {

namespace {

struct SilenceHdf5 {
    SilenceHdf5() {
        H5::Exception::dontPrint();
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    }
};
const SilenceHdf5 g_silence;

std::string h5_message(const H5::Exception& e) {
    std::string d = e.getDetailMsg();
    return d.empty() ? std::string("HDF5 error") : d;
}

// The one catch of H5::Exception: runs `body`, and HDF5's exception becomes an Error
// "<context>: <HDF5's message>" (context names the file, the object and what was being done).
template <typename Body>
auto h5_guard(const std::string& context, Body&& body) -> decltype(body()) {
    try {
        return body();
    } catch (const H5::Exception& e) {
        throw Error(context + ": " + h5_message(e));
    }
}

std::string normalise(const std::string& object) {
    if (object.empty() || object == "/") return "/";
    return object[0] == '/' ? object : "/" + object;
}

std::vector<std::string> split_path(const std::string& path) {
    std::vector<std::string> parts;
    std::stringstream ss(path);
    std::string part;
    while (std::getline(ss, part, '/'))
        if (!part.empty()) parts.push_back(part);
    return parts;
}

std::string dims_string(const std::vector<std::uint64_t>& dims) {
    std::ostringstream os;
    os << "[";
    for (size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
    os << "]";
    return os.str();
}

// Attribute::read and DataSet::read take their arguments in opposite orders.
void read_into(const H5::Attribute& a, const H5::DataType& t, void* buf) { a.read(t, buf); }
void read_into(const H5::DataSet& d, const H5::DataType& t, void* buf) { d.read(buf, t); }

// What a dataset may expand to beyond the bytes the file stores for it. Deflate packs at most about
// 1032:1, so a dataset claiming more than kMaxExpansion times its stored bytes (chunks never
// written, read back as fill values: a few kB on disk claiming gigabytes) or times the whole file
// is refused before its buffer is allocated. Datasets under kUncheckedBytes are read as they are.
constexpr double kMaxExpansion = 1100;
constexpr double kUncheckedBytes = 16.0 * 1024 * 1024;

}  // namespace

bool claims_more_than_stored(double claimed_bytes, double stored_bytes) {
    return claimed_bytes > kMaxExpansion * stored_bytes + kUncheckedBytes;
}

namespace {

void check_claimed_size(const H5::DataSet& ds, double elements, double element_bytes, const std::string& where) {
    const double claimed = elements * element_bytes;
    if (claimed <= kUncheckedBytes) return;
    hsize_t file_size = 0;
    const hid_t file = H5Iget_file_id(ds.getId());
    if (file >= 0) {
        H5Fget_filesize(file, &file_size);
        H5Fclose(file);
    }
    const double stored = std::min(static_cast<double>(H5Dget_storage_size(ds.getId())), static_cast<double>(file_size));
    if (claims_more_than_stored(claimed, stored))
        throw Error(where + ": claims " + std::to_string(claimed / 1e6) + " MB but the file stores only " +
                    std::to_string(static_cast<long long>(stored)) + " bytes for it (unwritten or corrupt dataset)");
}

// Strings from an attribute or dataset whose datatype is a string type.
template <typename Source>
std::vector<std::string> read_string_values(const Source& src, const H5::DataType& dtype, hsize_t count) {
    H5::StrType stype(dtype.getId());
    std::vector<std::string> out;
    out.reserve(count);
    if (stype.isVariableStr()) {
        std::vector<char*> buf(count, nullptr);
        H5::StrType mem(H5::PredType::C_S1, H5T_VARIABLE);
        mem.setCset(stype.getCset());
        try {
            read_into(src, mem, buf.data());
        } catch (...) {
            for (auto* p : buf) std::free(p);  // strings HDF5 allocated before the read failed
            throw;
        }
        for (auto* p : buf) {
            out.emplace_back(p ? p : "");
            std::free(p);
        }
    } else {
        const size_t n = stype.getSize();
        std::vector<char> buf(n * count + 1, '\0');
        read_into(src, stype, buf.data());
        for (hsize_t i = 0; i < count; ++i) {
            const char* p = buf.data() + i * n;
            out.emplace_back(p, strnlen(p, n));
        }
    }
    return out;
}

}  // namespace

Matrix matrix_from_row_major(const float* data, std::int64_t rows, std::int64_t cols) {
    return Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(data, rows, cols);
}

std::vector<float> row_major(const Matrix& m) {
    std::vector<float> out(static_cast<size_t>(m.size()));
    Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(out.data(), m.rows(), m.cols()) = m;
    return out;
}

// ---------------------------------------------------------------------------------------------
// H5Reader

H5Reader::H5Reader(const std::string& path) : m_path(path) {
    if (!std::filesystem::exists(path)) throw Error(path + ": no such file");
    if (H5Fis_hdf5(path.c_str()) <= 0) throw Error(path + ": not an HDF5 file");
    check_hdf5_file(path);  // a file that crashes or hangs the HDF5 library is refused here
    h5_guard(path + ": cannot open HDF5 file (truncated or corrupt?)",
             [&] { m_file = std::make_unique<H5::H5File>(path, H5F_ACC_RDONLY); });
}

std::string H5Reader::where(const std::string& object) const { return m_path + ": " + normalise(object); }

bool H5Reader::exists(const std::string& object) const {
    const auto parts = split_path(object);
    std::string prefix;
    for (const auto& p : parts) {
        prefix += "/" + p;
        const htri_t r = H5Lexists(m_file->getId(), prefix.c_str(), H5P_DEFAULT);
        if (r <= 0) return false;
    }
    return true;
}

std::vector<std::string> H5Reader::children(const std::string& group) const {
    return h5_guard(where(group) + ": cannot list group", [&] {
        H5::Group g = m_file->openGroup(normalise(group));
        std::vector<std::string> names;
        for (hsize_t i = 0; i < g.getNumObjs(); ++i) names.push_back(g.getObjnameByIdx(i));
        return names;
    });
}

bool H5Reader::is_group(const std::string& object) const {
    if (normalise(object) == "/") return true;
    if (!exists(object)) return false;
    return h5_guard(where(object) + ": cannot read object type",
                    [&] { return m_file->childObjType(normalise(object)) == H5O_TYPE_GROUP; });
}

namespace {

herr_t collect_attribute_name(hid_t, const char* name, const H5A_info_t*, void* names) {
    static_cast<std::vector<std::string>*>(names)->emplace_back(name);
    return 0;
}

}  // namespace

std::vector<std::string> H5Reader::attribute_names(const std::string& object) const {
    if (normalise(object) != "/" && !exists(object)) throw Error(where(object) + ": missing object");
    std::vector<std::string> names;
    if (H5Aiterate_by_name(m_file->getId(), normalise(object).c_str(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
                           collect_attribute_name, &names, H5P_DEFAULT) < 0)
        throw Error(where(object) + ": cannot list attributes");
    return names;
}

bool H5Reader::has_attribute(const std::string& object, const std::string& name) const {
    if (normalise(object) != "/" && !exists(object)) return false;
    return H5Aexists_by_name(m_file->getId(), normalise(object).c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

namespace {

// Opens attribute `name` of `object` in `file` or throws an Error naming both.
H5::Attribute open_attribute(const H5::H5File& file, const std::string& where, const std::string& object,
                             const std::string& name) {
    hid_t id = H5Aopen_by_name(file.getId(), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
    if (id < 0) throw Error(where + ": missing attribute '" + name + "'");
    // H5::Attribute(id) takes a reference of its own: drop ours, or the attribute stays open (a leak,
    // and HDF5 1.10 then answers a later open of a same-named attribute on another object with it).
    H5::Attribute attribute(id);
    H5Idec_ref(id);
    return attribute;
}

}  // namespace

std::int64_t H5Reader::attr_int(const std::string& object, const std::string& name) const {
    return h5_guard(where(object) + ": cannot read attribute '" + name + "'", [&]() -> std::int64_t {
        H5::Attribute a = open_attribute(*m_file, where(object), normalise(object), name);
        const auto cls = a.getTypeClass();
        if (a.getSpace().getSimpleExtentNpoints() != 1)
            throw Error(where(object) + ": attribute '" + name + "' is not a scalar");
        if (cls == H5T_INTEGER) {
            std::int64_t v = 0;
            a.read(H5::PredType::NATIVE_INT64, &v);
            return v;
        }
        if (cls == H5T_ENUM) {  // numpy booleans as written by h5py
            H5::EnumType et = a.getEnumType();
            std::vector<unsigned char> buf(et.getSize(), 0);
            a.read(et, buf.data());
            std::int64_t v = 0;
            for (size_t i = 0; i < buf.size(); ++i) v |= static_cast<std::int64_t>(buf[i]) << (8 * i);
            return v;
        }
        if (cls == H5T_FLOAT) {
            double v = 0;
            a.read(H5::PredType::NATIVE_DOUBLE, &v);
            if (v != static_cast<double>(static_cast<std::int64_t>(v)))
                throw Error(where(object) + ": attribute '" + name + "' should be an integer, got " +
                            std::to_string(v));
            return static_cast<std::int64_t>(v);
        }
        if (cls == H5T_STRING) {
            const std::string s = attr_string(object, name);
            try {
                size_t used = 0;
                const long long v = std::stoll(s, &used);
                if (used == s.size()) return v;
            } catch (const std::exception&) {
            }
        }
        throw Error(where(object) + ": attribute '" + name + "' should be an integer");
    });
}

double H5Reader::attr_double(const std::string& object, const std::string& name) const {
    return h5_guard(where(object) + ": cannot read attribute '" + name + "'", [&] {
        H5::Attribute a = open_attribute(*m_file, where(object), normalise(object), name);
        const auto cls = a.getTypeClass();
        if (a.getSpace().getSimpleExtentNpoints() != 1)
            throw Error(where(object) + ": attribute '" + name + "' is not a scalar");
        if (cls != H5T_INTEGER && cls != H5T_FLOAT)
            throw Error(where(object) + ": attribute '" + name + "' should be a number");
        double v = 0;
        a.read(H5::PredType::NATIVE_DOUBLE, &v);
        return v;
    });
}

std::string H5Reader::attr_string(const std::string& object, const std::string& name) const {
    return h5_guard(where(object) + ": cannot read attribute '" + name + "'", [&] {
        H5::Attribute a = open_attribute(*m_file, where(object), normalise(object), name);
        if (a.getTypeClass() != H5T_STRING)
            throw Error(where(object) + ": attribute '" + name + "' should be a string");
        const auto n = static_cast<hsize_t>(a.getSpace().getSimpleExtentNpoints());
        if (n != 1) throw Error(where(object) + ": attribute '" + name + "' is not a scalar string");
        return read_string_values(a, a.getDataType(), 1).front();
    });
}

std::vector<std::uint64_t> H5Reader::dims(const std::string& dataset) const {
    if (!exists(dataset)) throw Error(where(dataset) + ": missing dataset");
    return h5_guard(where(dataset) + ": cannot read dataset", [&]() -> std::vector<std::uint64_t> {
        H5::DataSet ds = m_file->openDataSet(normalise(dataset));
        H5::DataSpace sp = ds.getSpace();
        const int rank = sp.getSimpleExtentNdims();
        std::vector<hsize_t> d(static_cast<size_t>(rank));
        if (rank > 0) sp.getSimpleExtentDims(d.data());
        return {d.begin(), d.end()};
    });
}

template <typename T>
Array<T> H5Reader::read_array(const std::string& dataset, const H5::PredType& type) const {
    Array<T> out;
    out.dims = dims(dataset);
    h5_guard(where(dataset) + ": cannot read data (truncated or corrupt file?)", [&] {
        H5::DataSet ds = m_file->openDataSet(normalise(dataset));
        const auto cls = ds.getTypeClass();
        if (cls != H5T_FLOAT && cls != H5T_INTEGER)
            throw Error(where(dataset) + ": expected a numeric dataset");
        check_claimed_size(ds, static_cast<double>(out.size()), sizeof(T), where(dataset));
        out.data.resize(static_cast<size_t>(out.size()));
        if (!out.data.empty()) ds.read(out.data.data(), type);
    });
    return out;
}

template <typename T>
Array<T> H5Reader::read_slice(const std::string& dataset, const std::vector<std::uint64_t>& leading,
                              const H5::PredType& type) const {
    const auto full = dims(dataset);
    if (leading.size() > full.size())
        throw Error(where(dataset) + ": " + std::to_string(leading.size()) + " indices for a dataset of shape " +
                    dims_string(full));
    for (size_t i = 0; i < leading.size(); ++i)
        if (leading[i] >= full[i])
            throw Error(where(dataset) + ": index " + dims_string(leading) + " out of range for shape " +
                        dims_string(full));
    Array<T> out;
    out.dims.assign(full.begin() + static_cast<std::ptrdiff_t>(leading.size()), full.end());
    std::vector<hsize_t> start(full.size(), 0), count(full.begin(), full.end());
    for (size_t i = 0; i < leading.size(); ++i) {
        start[i] = leading[i];
        count[i] = 1;
    }
    h5_guard(where(dataset) + ": cannot read data (truncated or corrupt file?)", [&] {
        H5::DataSet ds = m_file->openDataSet(normalise(dataset));
        const auto cls = ds.getTypeClass();
        if (cls != H5T_FLOAT && cls != H5T_INTEGER) throw Error(where(dataset) + ": expected a numeric dataset");
        check_claimed_size(ds, static_cast<double>(out.size()), sizeof(T), where(dataset));
        out.data.resize(static_cast<size_t>(out.size()));
        if (out.data.empty()) return;
        H5::DataSpace file_space = ds.getSpace();
        if (!full.empty()) file_space.selectHyperslab(H5S_SELECT_SET, count.data(), start.data());
        const hsize_t n = out.size();
        H5::DataSpace mem_space(1, &n);
        ds.read(out.data.data(), type, mem_space, file_space);
    });
    return out;
}

Array<float> H5Reader::read_float_slice(const std::string& dataset, const std::vector<std::uint64_t>& leading) const {
    return read_slice<float>(dataset, leading, H5::PredType::NATIVE_FLOAT);
}
Array<std::int64_t> H5Reader::read_int_slice(const std::string& dataset,
                                             const std::vector<std::uint64_t>& leading) const {
    return read_slice<std::int64_t>(dataset, leading, H5::PredType::NATIVE_INT64);
}

Array<float> H5Reader::read_float(const std::string& dataset) const {
    return read_array<float>(dataset, H5::PredType::NATIVE_FLOAT);
}
Array<double> H5Reader::read_double(const std::string& dataset) const {
    return read_array<double>(dataset, H5::PredType::NATIVE_DOUBLE);
}
Array<std::int64_t> H5Reader::read_int(const std::string& dataset) const {
    return read_array<std::int64_t>(dataset, H5::PredType::NATIVE_INT64);
}

std::vector<std::string> H5Reader::read_strings(const std::string& dataset) const {
    const auto d = dims(dataset);
    if (d.size() > 1) throw Error(where(dataset) + ": expected a 1-D string dataset, got shape " + dims_string(d));
    return h5_guard(where(dataset) + ": cannot read strings", [&]() -> std::vector<std::string> {
        H5::DataSet ds = m_file->openDataSet(normalise(dataset));
        if (ds.getTypeClass() != H5T_STRING) throw Error(where(dataset) + ": expected a string dataset");
        const hsize_t count = d.empty() ? 1 : d[0];
        if (count == 0) return {};
        const H5::DataType type = ds.getDataType();
        const double element_bytes = H5Tis_variable_str(type.getId()) > 0 ? sizeof(char*) : static_cast<double>(type.getSize());
        check_claimed_size(ds, static_cast<double>(count), element_bytes, where(dataset));
        return read_string_values(ds, type, count);
    });
}

std::string H5Reader::read_string(const std::string& dataset) const {
    const auto s = read_strings(dataset);
    if (s.size() != 1) throw Error(where(dataset) + ": expected one string, got " + std::to_string(s.size()));
    return s.front();
}

Matrix H5Reader::read_matrix(const std::string& dataset, std::int64_t rows, std::int64_t cols) const {
    const auto d = dims(dataset);
    const std::vector<std::uint64_t> want{static_cast<std::uint64_t>(rows), static_cast<std::uint64_t>(cols)};
    if (d != want) throw Error(where(dataset) + ": shape " + dims_string(d) + ", expected " + dims_string(want));
    const auto a = read_float(dataset);
    return matrix_from_row_major(a.data.data(), rows, cols);
}

Vector H5Reader::read_vector(const std::string& dataset, std::int64_t n) const {
    const auto d = dims(dataset);
    const std::vector<std::uint64_t> want{static_cast<std::uint64_t>(n)};
    if (d != want) throw Error(where(dataset) + ": shape " + dims_string(d) + ", expected " + dims_string(want));
    const auto a = read_float(dataset);
    return Eigen::Map<const Vector>(a.data.data(), n);
}

std::vector<Matrix> H5Reader::read_stack(const std::string& dataset, std::int64_t n, std::int64_t rows,
                                         std::int64_t cols) const {
    const auto d = dims(dataset);
    const std::vector<std::uint64_t> want{static_cast<std::uint64_t>(n), static_cast<std::uint64_t>(rows),
                                          static_cast<std::uint64_t>(cols)};
    if (d != want) throw Error(where(dataset) + ": shape " + dims_string(d) + ", expected " + dims_string(want));
    const auto a = read_float(dataset);
    std::vector<Matrix> out;
    out.reserve(static_cast<size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
        out.push_back(matrix_from_row_major(a.data.data() + i * rows * cols, rows, cols));
    return out;
}

// ---------------------------------------------------------------------------------------------
// H5Writer

// The file is built in memory (HDF5's core driver, no backing store) and written out by close() in
// one checked step: HDF5 itself never meets a failing write (a full disk), which it does not
// survive cleanly (failed closes, then a crash), so a full disk is one clear Error and no file.
H5Writer::H5Writer(const std::string& path, bool compress)
    : m_path(path), m_compress(compress) {
    h5_guard(path + ": cannot create HDF5 file", [&] {
        H5::FileAccPropList fapl;
        fapl.setCore(1 << 20, /*backing_store=*/false);
        m_file = std::make_unique<H5::H5File>(path, H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, fapl);
    });
}

H5Writer::~H5Writer() {
    // Unwinding from an error: the half-built file is dropped, nothing reaches the disk.
    if (std::uncaught_exceptions() > 0) m_file.reset();
    try {
        close();
    } catch (...) {
    }
}

namespace {

// Writes `bytes` to a new file at `path`; on any failure removes what was written and throws.
void write_whole_file(const std::string& path, const std::vector<unsigned char>& bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error(path + ": cannot create file: " + std::strerror(errno));
    size_t done = 0;
    int error = 0;
    while (done < bytes.size() && error == 0) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n > 0)
            done += static_cast<size_t>(n);
        else if (n < 0 && errno != EINTR)
            error = errno;
    }
    if (::close(fd) != 0 && error == 0) error = errno;
    if (error != 0) {
        ::unlink(path.c_str());
        throw Error(path + ": cannot write file (" + std::to_string(bytes.size()) + " bytes): " + std::strerror(error));
    }
}

}  // namespace

void H5Writer::close() {
    if (!m_file) return;
    // Taken out of m_file first: after a failed close the writer counts as closed all the same.
    const std::unique_ptr<H5::H5File> file = std::move(m_file);
    std::vector<unsigned char> image;
    h5_guard(m_path + ": cannot close HDF5 file", [&] {
        file->flush(H5F_SCOPE_GLOBAL);
        const ssize_t size = H5Fget_file_image(file->getId(), nullptr, 0);
        if (size < 0) throw Error(m_path + ": cannot build the HDF5 file image");
        image.resize(static_cast<size_t>(size));
        if (H5Fget_file_image(file->getId(), image.data(), image.size()) < 0)
            throw Error(m_path + ": cannot build the HDF5 file image");
        file->close();
    });
    write_whole_file(m_path, image);
}

void H5Writer::create_group(const std::string& group) {
    std::string prefix;
    for (const auto& p : split_path(group)) {
        prefix += "/" + p;
        if (H5Lexists(m_file->getId(), prefix.c_str(), H5P_DEFAULT) > 0) continue;
        h5_guard(m_path + ": " + prefix + ": cannot create group", [&] {
            const hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
            H5Pset_obj_track_times(gcpl, 0);  // no timestamps: same content, same bytes
            const hid_t g = H5Gcreate2(m_file->getId(), prefix.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT);
            H5Pclose(gcpl);
            if (g < 0) throw Error(m_path + ": " + prefix + ": cannot create group");
            H5Gclose(g);
        });
    }
}

void H5Writer::ensure_parent(const std::string& dataset) {
    const auto n = normalise(dataset);
    const auto slash = n.rfind('/');
    if (slash > 0) create_group(n.substr(0, slash));
}

namespace {

// An open HDF5 object id, closed on scope exit.
struct ObjectId {
    hid_t id;
    ~ObjectId() {
        if (id >= 0) H5Oclose(id);
    }
};

}  // namespace

void H5Writer::write_attribute(const std::string& obj, const std::string& name, hid_t file_type, hid_t mem_type,
                               const void* value) {
    const auto n = normalise(obj);
    if (n != "/" && H5Lexists(m_file->getId(), n.c_str(), H5P_DEFAULT) <= 0) create_group(n);
    const ObjectId o{H5Oopen(m_file->getId(), n.c_str(), H5P_DEFAULT)};
    bool ok = o.id >= 0;
    if (ok && H5Aexists(o.id, name.c_str()) > 0) ok = H5Adelete(o.id, name.c_str()) >= 0;
    if (ok) {
        const hid_t space = H5Screate(H5S_SCALAR);
        const hid_t a = H5Acreate2(o.id, name.c_str(), file_type, space, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, mem_type, value) >= 0;
        if (a >= 0) H5Aclose(a);
        H5Sclose(space);
    }
    if (!ok) throw Error(m_path + ": " + n + ": cannot write attribute '" + name + "'");
}

void H5Writer::attr(const std::string& obj, const std::string& name, std::int64_t value) {
    write_attribute(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void H5Writer::attr(const std::string& obj, const std::string& name, double value) {
    write_attribute(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

void H5Writer::attr(const std::string& obj, const std::string& name, const std::string& value) {
    const hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    const char* p = value.c_str();
    try {
        write_attribute(obj, name, t, t, &p);
    } catch (...) {
        H5Tclose(t);
        throw;
    }
    H5Tclose(t);
}

template <typename T>
void H5Writer::write_array(const std::string& dataset, const Array<T>& a, const H5::PredType& mem,
                           const H5::PredType& file) {
    if (a.data.size() != a.size())
        throw Error(m_path + ": " + normalise(dataset) + ": data length " + std::to_string(a.data.size()) +
                    " does not match shape " + dims_string(a.dims));
    ensure_parent(dataset);
    h5_guard(m_path + ": " + normalise(dataset) + ": cannot write dataset", [&] {
        std::vector<hsize_t> d(a.dims.begin(), a.dims.end());
        H5::DataSpace space = d.empty() ? H5::DataSpace(H5S_SCALAR)
                                        : H5::DataSpace(static_cast<int>(d.size()), d.data());
        H5::DSetCreatPropList dcpl;
        H5Pset_obj_track_times(dcpl.getId(), 0);
        // Compress mid-sized arrays (mostly sparse hand-built or compiled weights); very large ones
        // are left contiguous so that writing a big model stays fast.
        const std::uint64_t n = a.size();
        if (m_compress && !d.empty() && n >= 4096 && n <= (std::uint64_t{1} << 24)) {
            std::vector<hsize_t> chunk = d;
            std::uint64_t per_first = n / d[0];
            chunk[0] = std::max<hsize_t>(1, std::min<hsize_t>(d[0], (std::uint64_t{1} << 20) / std::max<std::uint64_t>(1, per_first)));
            dcpl.setChunk(static_cast<int>(chunk.size()), chunk.data());
            dcpl.setShuffle();
            dcpl.setDeflate(4);
        }
        H5::DataSet ds = m_file->createDataSet(normalise(dataset), file, space, dcpl);
        if (!a.data.empty()) ds.write(a.data.data(), mem);
    });
}

void H5Writer::write(const std::string& dataset, const Array<float>& a) {
    write_array(dataset, a, H5::PredType::NATIVE_FLOAT, H5::PredType::IEEE_F32LE);
}
void H5Writer::write(const std::string& dataset, const Array<double>& a) {
    write_array(dataset, a, H5::PredType::NATIVE_DOUBLE, H5::PredType::IEEE_F64LE);
}
void H5Writer::write(const std::string& dataset, const Array<std::int64_t>& a) {
    write_array(dataset, a, H5::PredType::NATIVE_INT64, H5::PredType::STD_I64LE);
}
void H5Writer::write(const std::string& dataset, const Array<std::uint8_t>& a) {
    write_array(dataset, a, H5::PredType::NATIVE_UINT8, H5::PredType::STD_U8LE);
}

void H5Writer::write_scalar(const std::string& dataset, double value) { write(dataset, Array<double>{{}, {value}}); }

void H5Writer::write_matrix(const std::string& dataset, const Matrix& m) {
    write(dataset, Array<float>{{static_cast<std::uint64_t>(m.rows()), static_cast<std::uint64_t>(m.cols())},
                                row_major(m)});
}

void H5Writer::write_vector(const std::string& dataset, const Eigen::Ref<const Vector>& v) {
    write(dataset, Array<float>{{static_cast<std::uint64_t>(v.size())}, std::vector<float>(v.data(), v.data() + v.size())});
}

void H5Writer::write_stack(const std::string& dataset, const std::vector<Matrix>& ms) {
    if (ms.empty()) throw Error(m_path + ": " + normalise(dataset) + ": empty stack");
    const auto r = ms[0].rows(), c = ms[0].cols();
    Array<float> a{{ms.size(), static_cast<std::uint64_t>(r), static_cast<std::uint64_t>(c)}, {}};
    a.data.reserve(a.size());
    for (const auto& m : ms) {
        if (m.rows() != r || m.cols() != c)
            throw Error(m_path + ": " + normalise(dataset) + ": matrices of different shapes in one stack");
        const auto rm = row_major(m);
        a.data.insert(a.data.end(), rm.begin(), rm.end());
    }
    write(dataset, a);
}

void H5Writer::write_strings(const std::string& dataset, const std::vector<std::string>& s) {
    ensure_parent(dataset);
    h5_guard(m_path + ": " + normalise(dataset) + ": cannot write strings", [&] {
        H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
        t.setCset(H5T_CSET_UTF8);
        hsize_t n = s.size();
        H5::DataSpace space(1, &n);
        H5::DSetCreatPropList dcpl;
        H5Pset_obj_track_times(dcpl.getId(), 0);
        H5::DataSet ds = m_file->createDataSet(normalise(dataset), t, space, dcpl);
        std::vector<const char*> ptrs;
        for (const auto& x : s) ptrs.push_back(x.c_str());
        if (!ptrs.empty()) ds.write(ptrs.data(), t);
    });
}

void H5Writer::write_string(const std::string& dataset, const std::string& s) {
    ensure_parent(dataset);
    h5_guard(m_path + ": " + normalise(dataset) + ": cannot write string", [&] {
        H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
        t.setCset(H5T_CSET_UTF8);
        H5::DSetCreatPropList dcpl;
        H5Pset_obj_track_times(dcpl.getId(), 0);
        H5::DataSet ds = m_file->createDataSet(normalise(dataset), t, H5::DataSpace(H5S_SCALAR), dcpl);
        const char* p = s.c_str();
        ds.write(&p, t);
    });
}

// ---------------------------------------------------------------------------------------------
// AtomicOutput

namespace {

// Temporaries are named "<target>.tmp-<pid>-<n>". A process killed before commit() leaves its
// temporary behind; the next writer of the same target removes those whose process is gone.
void remove_dead_temporaries(const std::filesystem::path& target) {
    std::error_code ec;
    const std::string prefix = target.filename().string() + ".tmp-";
    const auto parent = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
    for (const auto& e : std::filesystem::directory_iterator(parent, ec)) {
        const std::string name = e.path().filename().string();
        if (name.rfind(prefix, 0) != 0) continue;
        const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
        if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) std::filesystem::remove_all(e.path(), ec);
    }
}

// Flushes a finished temporary file to the disk before it replaces the target, so that a crash of
// the machine right after the rename cannot leave an empty file under the target's name.
void sync_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return;
    const int rc = ::fsync(fd);
    const int saved = errno;
    ::close(fd);
    if (rc != 0 && saved != EINVAL && saved != EROFS)
        throw Error(path + ": cannot flush the finished output to disk: " + std::strerror(saved));
}

}  // namespace

AtomicOutput::AtomicOutput(std::string target) : m_target(std::move(target)) {
    static std::atomic<int> counter{0};
    remove_dead_temporaries(m_target);
    m_temp = m_target + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

AtomicOutput::~AtomicOutput() {
    if (!m_done) {
        std::error_code ec;
        std::filesystem::remove_all(m_temp, ec);
    }
}

void AtomicOutput::commit() {
    std::error_code ec;
    if (std::filesystem::is_directory(m_temp, ec)) {
        // A folder replacing a folder: swap the two in one step (renameat2 RENAME_EXCHANGE), then
        // remove the old one, now under the temporary name. At no moment is the target missing.
        if (std::filesystem::is_directory(m_target, ec)) {
            if (::renameat2(AT_FDCWD, m_temp.c_str(), AT_FDCWD, m_target.c_str(), RENAME_EXCHANGE) != 0)
                throw Error(m_target + ": cannot move the finished output into place: " + std::strerror(errno));
            std::filesystem::remove_all(m_temp, ec);
            m_done = true;
            return;
        }
    } else {
        sync_file(m_temp);
    }
    std::filesystem::rename(m_temp, m_target, ec);
    if (ec) throw Error(m_target + ": cannot move the finished output into place: " + ec.message());
    m_done = true;
}

}  // namespace circuits
