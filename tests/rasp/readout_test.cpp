// Tests of reading a compiled model's output from logits.
#include "lib/rasp/readout.hpp"

#include "lib/error.hpp"
#include "tests/test_util.hpp"

namespace circuits::rasp {

TEST_CASE("rasp readout: categorical argmax, none when no logit is positive; numerical logit") {
    Model m;
    m.cfg.d_vocab_out = 3;
    m.vocab_out = {"a", "b", "c"};
    m.output_encoding = OutputEncoding::categorical;
    Matrix logits(3, 3);
    logits << 0.0f, 0.0f, 0.0f,  //
        -0.9f, 0.1f, -0.9f,      //
        -0.4f, -0.4f, -0.2f;     // a mixture: no value
    const auto r = read_output(m, logits, 1);
    REQUIRE(r.size() == 2);
    CHECK(to_string(m, r[0]) == "b");
    CHECK(r[1].none);
    CHECK(to_string(m, r[1]) == "none");

    m.cfg.d_vocab_out = 1;
    m.vocab_out = {"f"};
    m.output_encoding = OutputEncoding::numerical;
    Matrix one(2, 1);
    one << 0.25f, -1.5f;
    const auto n = read_output(m, one, 0);
    CHECK(to_string(m, n[0]) == "0.25");
    CHECK(to_string(m, n[1]) == "-1.5");

    m.output_encoding = OutputEncoding::none;
    CHECK_THROWS_AS(read_output(m, one, 0), Error);
}

}  // namespace circuits::rasp
