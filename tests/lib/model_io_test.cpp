// Tests of the HDF5 model file: round trips for every model shape, one test per bad input, atomic writes.
#include "lib/model_io.hpp"

#include "lib/hdf5.hpp"
#include "tests/lib/io_test_util.hpp"
#include "tests/test_util.hpp"

#include <H5Cpp.h>

#include <limits>

namespace circuits {
namespace {

using test::contains;
using test::error_of;

// A model file with random weights in `dir`; returns its path.
std::string write_small_model(const test::TempDir& dir, const std::string& name = "model.h5") {
    const auto path = dir.file(name);
    write_model_h5(test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::LN, 5), 3), path);
    return path;
}

// Opens `path` read-write with the HDF5 C++ API for surgery on a written model file.
H5::H5File open_rw(const std::string& path) { return H5::H5File(path, H5F_ACC_RDWR); }

TEST_CASE("model_io: HDF5 round trip for every positional and normalisation type, non-square shapes") {
    test::TempDir dir;
    unsigned seed = 100;
    for (auto pos : {PositionalEmbedding::standard, PositionalEmbedding::shortformer, PositionalEmbedding::none})
        for (auto norm : {Normalization::none, Normalization::LN, Normalization::LNPre})
            for (int d_mlp : {0, 5}) {
                CAPTURE(to_string(pos));
                CAPTURE(to_string(norm));
                CAPTURE(d_mlp);
                auto cfg = test::small_config(pos, norm, d_mlp);  // d_vocab 11, d_vocab_out 7, d_model 12, d_head 4
                cfg.act_fn = ActFn::gelu;
                const Model m = test::random_model(cfg, seed++);
                write_model_h5(m, dir.file("m.h5"));
                test::check_same_model(read_model_h5(dir.file("m.h5")), m);
                test::check_same_model(load_model(dir.file("m.h5")), m);
            }
}

TEST_CASE("model_io: vocabularies, BOS, labels, program and weight processing survive the HDF5 round trip") {
    test::TempDir dir;
    const Model m = test::labelled_model(test::small_config(PositionalEmbedding::shortformer, Normalization::LN, 3), 8);
    write_model_h5(m, dir.file("m.h5"));
    test::check_same_model(read_model_h5(dir.file("m.h5")), m);
}

TEST_CASE("model_io: a truncated HDF5 file is an error naming the file") {
    test::TempDir dir;
    const auto path = write_small_model(dir);
    const auto bytes = test::read_bytes(path);
    for (size_t keep : {bytes.size() / 2, bytes.size() - 100, size_t{600}, size_t{10}}) {
        CAPTURE(keep);
        test::write_bytes(dir.file("cut.h5"), bytes.substr(0, keep));
        const auto message = error_of([&] { read_model_h5(dir.file("cut.h5")); });
        CHECK_MESSAGE(contains(message, dir.file("cut.h5")), message);
    }
    const auto r = test::cli({"inspect", dir.file("cut.h5")});
    CHECK(r.status == 1);
    CHECK(r.err.rfind("circuits: error:", 0) == 0);
    CHECK_MESSAGE(contains(r.err, dir.file("cut.h5")), r.err);
}

TEST_CASE("model_io: a file that is not HDF5, or not there, is an error naming it") {
    test::TempDir dir;
    test::write_bytes(dir.file("text.h5"), "n_layers = 2\nthis is not a model\n");
    const auto message = error_of([&] { read_model_h5(dir.file("text.h5")); });
    CHECK_MESSAGE(contains(message, dir.file("text.h5")), message);
    CHECK_MESSAGE(contains(message, "not an HDF5 file"), message);
    CHECK(contains(error_of([&] { load_model(dir.file("absent.h5")); }), dir.file("absent.h5")));

    const auto r = test::cli({"run", dir.file("text.h5"), "1", "2"});
    CHECK(r.status == 1);
    CHECK(r.err.rfind("circuits: error:", 0) == 0);
    CHECK_MESSAGE(contains(r.err, dir.file("text.h5")), r.err);
}

TEST_CASE("model_io: an HDF5 file that is not a circuits model is an error") {
    test::TempDir dir;
    {
        H5Writer w(dir.file("other.h5"));
        w.write_scalar("x", 1.0);
        w.close();
    }
    CHECK(contains(error_of([&] { read_model_h5(dir.file("other.h5")); }), "missing attribute 'format'"));
    {
        H5Writer w(dir.file("results.h5"));
        w.attr("/", "format", "circuits-results");
        w.close();
    }
    CHECK(contains(error_of([&] { read_model_h5(dir.file("results.h5")); }), "expected 'circuits-model'"));
}

TEST_CASE("model_io: a missing dataset is an error naming its path") {
    test::TempDir dir;
    const auto path = write_small_model(dir);
    {
        auto f = open_rw(path);
        f.unlink("/blocks/1/attn/W_K");
    }
    const auto message = error_of([&] { read_model_h5(path); });
    CHECK_MESSAGE(contains(message, path), message);
    CHECK_MESSAGE(contains(message, "/blocks/1/attn/W_K"), message);
    CHECK_MESSAGE(contains(message, "missing dataset"), message);

    const auto r = test::cli({"inspect", path});
    CHECK(r.status == 1);
    CHECK(r.err.rfind("circuits: error:", 0) == 0);
    CHECK_MESSAGE(contains(r.err, path + ": /blocks/1/attn/W_K"), r.err);
}

TEST_CASE("model_io: optional biases may be absent and read as zeros") {
    test::TempDir dir;
    const auto path = write_small_model(dir);
    {
        auto f = open_rw(path);
        f.unlink("/blocks/0/attn/b_V");
        f.unlink("/blocks/1/mlp/b_out");
        f.unlink("/unembed/b_U");
    }
    const Model m = read_model_h5(path);
    CHECK(m.blocks[0].attn.b_V[2].isZero(0));
    CHECK(m.blocks[1].mlp.b_out.isZero(0));
    CHECK(m.b_U.isZero(0));
    CHECK_FALSE(m.blocks[0].attn.b_Q[2].isZero(0));
}

TEST_CASE("model_io: a dataset shape disagreeing with the attributes names the path and both shapes") {
    test::TempDir dir;
    const auto path = write_small_model(dir);
    {
        auto f = open_rw(path);
        f.unlink("/blocks/0/attn/W_Q");
        const hsize_t dims[3] = {3, 12, 5};
        const std::vector<float> zeros(3 * 12 * 5, 0.0f);
        H5::DataSet ds = f.createDataSet("/blocks/0/attn/W_Q", H5::PredType::IEEE_F32LE, H5::DataSpace(3, dims));
        ds.write(zeros.data(), H5::PredType::NATIVE_FLOAT);
    }
    const auto message = error_of([&] { read_model_h5(path); });
    CHECK_MESSAGE(contains(message, path + ": /blocks/0/attn/W_Q"), message);
    CHECK_MESSAGE(contains(message, "shape [3, 12, 5], expected [3, 12, 4]"), message);

    // The attributes are the ground truth: a lying d_vocab makes the embedding the culprit.
    const auto path2 = write_small_model(dir, "m2.h5");
    {
        auto f = open_rw(path2);
        H5Adelete(f.getId(), "d_vocab");
        const std::int64_t v = 10;
        H5::Attribute a = f.createAttribute("d_vocab", H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR));
        a.write(H5::PredType::NATIVE_INT64, &v);
    }
    const auto vocab = error_of([&] { read_model_h5(path2); });
    CHECK_MESSAGE(contains(vocab, path2 + ": /embed/W_E: shape [11, 12], expected [10, 12]"), vocab);
}

TEST_CASE("model_io: a NaN weight is an error naming the file and the tensor") {
    test::TempDir dir;
    const auto path = write_small_model(dir);
    {
        auto f = open_rw(path);
        H5::DataSet ds = f.openDataSet("/blocks/1/attn/W_V");
        std::vector<float> v(3 * 12 * 4);
        ds.read(v.data(), H5::PredType::NATIVE_FLOAT);
        v[2 * 48 + 5 * 4 + 1] = std::numeric_limits<float>::quiet_NaN();
        ds.write(v.data(), H5::PredType::NATIVE_FLOAT);
    }
    const auto message = error_of([&] { read_model_h5(path); });
    CHECK_MESSAGE(contains(message, path), message);
    CHECK_MESSAGE(contains(message, "blocks/1/attn/W_V[2]: non-finite value nan at [5, 1]"), message);

    const auto r = test::cli({"run", path, "1", "2"});
    CHECK(r.status == 1);
    CHECK(r.err.rfind("circuits: error:", 0) == 0);
    CHECK_MESSAGE(contains(r.err, path), r.err);
    CHECK_MESSAGE(contains(r.err, "W_V"), r.err);
}

TEST_CASE("model_io: a missing or malformed attribute is an error naming it") {
    test::TempDir dir;
    const auto path = write_small_model(dir);
    {
        auto f = open_rw(path);
        H5Adelete(f.getId(), "d_head");
    }
    const auto message = error_of([&] { read_model_h5(path); });
    CHECK_MESSAGE(contains(message, path), message);
    CHECK_MESSAGE(contains(message, "missing attribute 'd_head'"), message);

    const auto path2 = write_small_model(dir, "m2.h5");
    {
        auto f = open_rw(path2);
        H5Adelete(f.getId(), "normalization_type");
        H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
        H5::Attribute a = f.createAttribute("normalization_type", t, H5::DataSpace(H5S_SCALAR));
        const char* value = "RMS";
        a.write(t, &value);
    }
    const auto norm = error_of([&] { read_model_h5(path2); });
    CHECK_MESSAGE(contains(norm, path2), norm);
    CHECK_MESSAGE(contains(norm, "normalization_type 'RMS'"), norm);

    const auto r = test::cli({"inspect", path});
    CHECK(r.status == 1);
    CHECK(r.err.rfind("circuits: error:", 0) == 0);
    CHECK_MESSAGE(contains(r.err, path), r.err);
    CHECK_MESSAGE(contains(r.err, "d_head"), r.err);
}

TEST_CASE("regression: the HDF5 reader rejects datasets the attributes do not call for, naming them") {
    test::TempDir dir;
    const auto cfg = test::small_config(PositionalEmbedding::standard, Normalization::none, 0);
    // A float dataset [4] at `name`, its groups created as needed.
    const auto add_dataset = [](const std::string& path, const std::string& name) {
        auto f = open_rw(path);
        const hsize_t n = 4;
        const std::vector<float> zeros(n, 0.0f);
        const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
        H5Pset_create_intermediate_group(lcpl, 1);
        const hid_t space = H5Screate_simple(1, &n, nullptr);
        const hid_t ds = H5Dcreate2(f.getId(), name.c_str(), H5T_IEEE_F32LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        REQUIRE(ds >= 0);
        H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros.data());
        H5Dclose(ds);
        H5Sclose(space);
        H5Pclose(lcpl);
    };
    SUBCASE("MLP weights in an attention-only model") {
        write_model_h5(test::random_model(cfg, 1), dir.file("m.h5"));
        add_dataset(dir.file("m.h5"), "/blocks/1/mlp/W_in");
        const auto message = error_of([&] { read_model_h5(dir.file("m.h5")); });
        CHECK_MESSAGE(contains(message, dir.file("m.h5")), message);
        CHECK_MESSAGE(contains(message, "does not have: /blocks/1/mlp/W_in"), message);
    }
    SUBCASE("a layer past n_layers") {
        write_model_h5(test::random_model(cfg, 1), dir.file("m.h5"));
        add_dataset(dir.file("m.h5"), "/blocks/2/attn/W_Q");
        CHECK(contains(error_of([&] { read_model_h5(dir.file("m.h5")); }), "/blocks/2/attn/W_Q"));
    }
    SUBCASE("groups that hold no tensors are not tensors") {
        write_model_h5(test::random_model(cfg, 1), dir.file("m.h5"));
        add_dataset(dir.file("m.h5"), "/training/loss");
        add_dataset(dir.file("m.h5"), "/tokenizer/scores");
        CHECK_NOTHROW(read_model_h5(dir.file("m.h5")));
    }
}

TEST_CASE("regression: an HDF5 model file without /vocab_out gets vocab_out = vocab when d_vocab_out = d_vocab") {
    test::TempDir dir;
    auto cfg = test::small_config(PositionalEmbedding::standard, Normalization::none, 0);
    cfg.d_vocab_out = cfg.d_vocab;
    Model m = test::random_model(cfg, 2);
    for (int i = 0; i < cfg.d_vocab; ++i) m.vocab.set(static_cast<size_t>(i), "w" + std::to_string(i));
    m.vocab_out = m.vocab;
    write_model_h5(m, dir.file("same.h5"));
    open_rw(dir.file("same.h5")).unlink("/vocab_out");
    CHECK(read_model_h5(dir.file("same.h5")).vocab_out == m.vocab);

    // Sizes that differ leave the numbered default.
    Model other = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::none, 0), 2);
    for (size_t i = 0; i < other.vocab.size(); ++i) other.vocab.set(i, "w" + other.vocab[i]);
    write_model_h5(other, dir.file("other.h5"));
    open_rw(dir.file("other.h5")).unlink("/vocab_out");
    CHECK(read_model_h5(dir.file("other.h5")).vocab_out == numbered_vocab(other.cfg.d_vocab_out));
}

TEST_CASE("model_io: an output target is never left half-written") {
    test::TempDir dir;
    const Model good = test::random_model(test::small_config(PositionalEmbedding::none, Normalization::none), 4);

    SUBCASE("a model that fails validation leaves the old file untouched") {
        write_model_h5(good, dir.file("m.h5"));
        const auto before = test::read_bytes(dir.file("m.h5"));
        Model bad = good;
        bad.W_U(1, 1) = std::numeric_limits<float>::infinity();
        CHECK_THROWS_AS(write_model_h5(bad, dir.file("m.h5")), Error);
        CHECK(test::read_bytes(dir.file("m.h5")) == before);
    }
    SUBCASE("a failure after the whole file was written (the target is a folder) removes the temporary") {
        std::filesystem::create_directories(dir.file("taken.h5/inside"));
        const auto message = error_of([&] { write_model_h5(good, dir.file("taken.h5")); });
        CHECK_MESSAGE(contains(message, dir.file("taken.h5")), message);
        CHECK(std::filesystem::is_directory(dir.file("taken.h5/inside")));
    }
    SUBCASE("an AtomicOutput destroyed without commit removes what was written") {
        {
            AtomicOutput out(dir.file("x.h5"));
            test::write_bytes(out.temp_path(), "partial");
            CHECK(std::filesystem::exists(out.temp_path()));
        }
        CHECK_FALSE(std::filesystem::exists(dir.file("x.h5")));
    }
    SUBCASE("through the command line") {
        std::filesystem::create_directories(dir.file("taken.h5/inside"));
        const auto r = test::cli({"planted", "-o", dir.file("taken.h5"), "--tokens", "4", "--n-ctx", "8"});
        CHECK(r.status == 1);
        CHECK(r.err.rfind("circuits: error:", 0) == 0);
        CHECK_MESSAGE(contains(r.err, dir.file("taken.h5")), r.err);
        const auto missing_dir = test::cli({"planted", "-o", dir.file("no/such/dir/m.h5"), "--tokens", "4", "--n-ctx", "8"});
        CHECK(missing_dir.status == 1);
        CHECK(missing_dir.err.rfind("circuits: error:", 0) == 0);
        CHECK_FALSE(std::filesystem::exists(dir.file("no")));
    }
    CHECK(test::temp_files_in(dir.path()).empty());
}

}  // namespace
}  // namespace circuits
