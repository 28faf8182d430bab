// Root attributes of results files and the file hash that ties results to a model file.
#include "analyses/results.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/results_schema.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>

namespace circuits::analyses {

namespace {

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + v[i];
    return out;
}

// SHA-256 (FIPS 180-4).
class Sha256 {
public:
    void update(const unsigned char* p, size_t n) {
        for (size_t i = 0; i < n; ++i) {
            m_block[m_used++] = p[i];
            if (m_used == 64) {
                compress();
                m_used = 0;
            }
        }
        m_bits += 8 * static_cast<std::uint64_t>(n);
    }
    std::string hex() {
        const std::uint64_t bits = m_bits;
        const unsigned char pad = 0x80;
        update(&pad, 1);
        const unsigned char zero = 0;
        while (m_used != 56) update(&zero, 1);
        unsigned char len[8];
        for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
        update(len, 8);
        static const char* digits = "0123456789abcdef";
        std::string out;
        for (auto w : m_h)
            for (int i = 28; i >= 0; i -= 4) out += digits[(w >> i) & 0xf];
        return out;
    }

private:
    static std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
    void compress() {
        static const std::uint32_t k[64] = {
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
            0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
            0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
            0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
            0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
            0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
            0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
        std::uint32_t w[64];
        for (int i = 0; i < 16; ++i)
            w[i] = (std::uint32_t(m_block[4 * i]) << 24) | (std::uint32_t(m_block[4 * i + 1]) << 16) |
                   (std::uint32_t(m_block[4 * i + 2]) << 8) | std::uint32_t(m_block[4 * i + 3]);
        for (int i = 16; i < 64; ++i) {
            const auto s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            const auto s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        auto h = m_h;
        for (int i = 0; i < 64; ++i) {
            const auto S1 = rotr(h[4], 6) ^ rotr(h[4], 11) ^ rotr(h[4], 25);
            const auto ch = (h[4] & h[5]) ^ (~h[4] & h[6]);
            const auto t1 = h[7] + S1 + ch + k[i] + w[i];
            const auto S0 = rotr(h[0], 2) ^ rotr(h[0], 13) ^ rotr(h[0], 22);
            const auto maj = (h[0] & h[1]) ^ (h[0] & h[2]) ^ (h[1] & h[2]);
            const auto t2 = S0 + maj;
            h = {t1 + t2, h[0], h[1], h[2], h[3] + t1, h[4], h[5], h[6]};
        }
        for (int i = 0; i < 8; ++i) m_h[static_cast<size_t>(i)] += h[static_cast<size_t>(i)];
    }
    std::array<std::uint32_t, 8> m_h{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    unsigned char m_block[64] = {};
    size_t m_used = 0;
    std::uint64_t m_bits = 0;
};

}  // namespace

std::string sha256_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot read file");
    Sha256 h;
    std::array<char, 1 << 16> buf{};
    while (in) {
        in.read(buf.data(), buf.size());
        h.update(reinterpret_cast<const unsigned char*>(buf.data()), static_cast<size_t>(in.gcount()));
    }
    return h.hex();
}

void write_results_header(H5Writer& w, const ResultsHeader& header) {
    namespace a = schema::root::attr;
    w.attr("/", a::format, schema::root::format_value);
    w.attr("/", a::format_version, schema::root::format_version_value);
    w.attr("/", a::model_path, header.model_path);
    w.attr("/", a::model_sha256, header.model_sha256);
    w.attr("/", a::circuits_version, CIRCUITS_VERSION);
    w.attr("/", a::passes, join(header.passes));
    w.attr("/", a::weight_processing,
           header.weight_processing.empty() ? std::string("none") : join(header.weight_processing));
}

bool same_vocabulary(const Model& model) {
    if (model.cfg.d_vocab != model.cfg.d_vocab_out) return false;
    // Absent vocabularies are the numbered default on both sides.
    if (model.vocab.empty() || model.vocab_out.empty()) return true;
    return model.vocab == model.vocab_out;
}

SharedTokens shared_vocabulary(const Model& model) {
    // Absent vocabularies are the numbered default on both sides.
    if (model.vocab.empty() || model.vocab_out.empty()) {
        if (!same_vocabulary(model)) return {};  // of different sizes: no token shared by string
        return Vocabulary(numbered_vocab(model.cfg.d_vocab)).shared_with(numbered_vocab(model.cfg.d_vocab));
    }
    return model.vocab.shared_with(model.vocab_out);
}

std::pair<Matrix, Matrix> shared_embeddings(const Model& model, const SharedTokens& shared) {
    Matrix E(shared.size(), model.cfg.d_model), U(model.cfg.d_model, shared.size());
    for (int k = 0; k < shared.size(); ++k) {
        E.row(k) = model.W_E.row(shared.in[static_cast<size_t>(k)]);
        U.col(k) = model.W_U.col(shared.out[static_cast<size_t>(k)]);
    }
    return {std::move(E), std::move(U)};
}

}  // namespace circuits::analyses
