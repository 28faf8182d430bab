// `circuits planted`: writes the hand-built previous-token + induction model (data/models/planted-2l.h5).
#include "cli/commands.hpp"

#include "lib/model_io.hpp"
#include "lib/planted.hpp"

#include <ostream>

namespace circuits::cli {

namespace po = boost::program_options;

Command planted_command() {
    return {"planted",
            "write a model with a planted previous-token head and induction head",
            "circuits planted -o MODEL [--tokens N] [--n-ctx N] [--seed S]",
            "Builds (does not train) a two-layer, two-heads-per-layer attention-only model: L0H0 is a\n"
            "previous-token head, L1H0 an induction head that K-composes with it and copies, L0H1 and\n"
            "L1H1 small Gaussian heads with no planted circuit. Ground truth for the analyses; the\n"
            "bundled data/models/planted-2l.h5 is made with the example below.",
            "circuits planted -o data/models/planted-2l.h5",
            [](po::options_description& opts, po::positional_options_description&) {
                opts.add_options()("output,o", po::value<std::string>()->required(), "model file to write")(
                    "tokens", po::value<int>()->default_value(24), "ordinary tokens (BOS is added)")(
                    "n-ctx", po::value<int>()->default_value(128), "context length (= d_head)")(
                    "seed", po::value<std::uint64_t>()->default_value(1234), "seed of the unplanted heads");
            },
            [](const po::variables_map& vm, std::ostream& out, std::ostream&) {
                PlantedInductionOptions o;
                o.n_tokens = vm["tokens"].as<int>();
                o.n_ctx = vm["n-ctx"].as<int>();
                o.seed = vm["seed"].as<std::uint64_t>();
                const auto path = vm["output"].as<std::string>();
                write_model_h5(planted_induction_model(o), path);
                out << "wrote " << path << "\n";
                return 0;
            }};
}

}  // namespace circuits::cli
