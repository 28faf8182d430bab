// Tests of verify(): it enumerates short inputs, draws random ones, and finds a planted fault.
#include "lib/rasp/verify.hpp"

#include "lib/error.hpp"
#include "lib/rasp/compiler.hpp"
#include "tests/test_util.hpp"

namespace circuits::rasp {

namespace {
const std::string kShift =
    "vocab a b c\nmax_len 5\ns = aggregate(select(indices, indices, (k, q) -> q == k + 1), tokens)\noutput s\n";
}

TEST_CASE("rasp verify: a correct model passes every short input and the random ones") {
    const Program p = parse_program(kShift, "v.rasp");
    const Model m = compile(p);
    VerifyOptions o;
    o.random_inputs = 50;
    const auto r = verify(p, m, o);
    CHECK(r.exhaustive == 3 + 9 + 27 + 81);
    CHECK(r.random == 50);
    CHECK_FALSE(r.mismatch.has_value());
}

TEST_CASE("rasp verify: swapping two output columns of W_U is caught with the input and position") {
    const Program p = parse_program(kShift, "v.rasp");
    Model m = compile(p);
    m.W_U.col(0).swap(m.W_U.col(1));  // "a" now reads as "b"
    const auto r = verify(p, m);
    REQUIRE(r.mismatch.has_value());
    CHECK(join_values(r.mismatch->input) == "a a");  // the first input whose output holds an "a"
    CHECK(r.mismatch->position == 1);
    CHECK(r.mismatch->expected == "a");
    CHECK(r.mismatch->got == "b");
}

TEST_CASE("rasp verify: a numerical output off by more than the tolerance is caught") {
    const Program p = parse_program(
        "vocab x a\nmax_len 4\nf = numerical(aggregate(select(indices, indices, <=), numerical(tokens == \"x\"), "
        "default: 0))\noutput f\n",
        "v.rasp");
    Model m = compile(p);
    CHECK_FALSE(verify(p, m).mismatch.has_value());
    m.b_U(0) = 1e-5f;  // above atol where the mean is 0
    const auto r = verify(p, m);
    REQUIRE(r.mismatch.has_value());
    CHECK(join_values(r.mismatch->input) == "a");
    CHECK(r.mismatch->expected == "0");
}

TEST_CASE("rasp verify: refuses a model compiled from another program") {
    const Program p = parse_program(kShift, "v.rasp");
    Program q = p;
    q.max_len = 4;
    CHECK_THROWS_AS(verify(q, compile(p)), Error);
}

}  // namespace circuits::rasp
