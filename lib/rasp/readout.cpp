// Reading compiled models' outputs.
#include "lib/rasp/readout.hpp"

#include "lib/error.hpp"
#include "lib/rasp/value.hpp"

namespace circuits::rasp {

std::vector<OutputReading> read_output(const Model& model, const Matrix& logits, int first_row) {
    const OutputEncoding enc = model.output_encoding;
    if (enc == OutputEncoding::none)
        throw Error("read_output: the model has no output_encoding (not a compiled model)");
    if (logits.cols() != model.cfg.d_vocab_out)
        throw Error("read_output: logits have " + std::to_string(logits.cols()) +
                    " columns, expected d_vocab_out = " + std::to_string(model.cfg.d_vocab_out));
    std::vector<OutputReading> out;
    for (Eigen::Index t = first_row; t < logits.rows(); ++t) {
        OutputReading r;
        if (enc == OutputEncoding::numerical) {
            r.number = logits(t, 0);
        } else {
            Eigen::Index best = 0;
            const float top = logits.row(t).maxCoeff(&best);
            r.none = !(top > 0.0f);
            r.index = r.none ? -1 : static_cast<int>(best);
        }
        out.push_back(r);
    }
    return out;
}

std::string to_string(const Model& model, const OutputReading& r) {
    if (r.none) return "none";
    if (model.output_encoding == OutputEncoding::numerical) return format_float(static_cast<float>(r.number));
    return model.vocab_out[static_cast<size_t>(r.index)];
}

}  // namespace circuits::rasp
