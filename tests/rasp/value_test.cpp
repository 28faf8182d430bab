// Tests of RASP values: Python semantics of arithmetic, comparison, printing and built-ins.
#include "lib/rasp/value.hpp"

#include <doctest/doctest.h>

namespace circuits::rasp {

namespace {
Value I(std::int64_t i) {
    return Value::integer(i);
}
Value F(double d) {
    return Value::number(d);
}
Value S(const std::string& s) {
    return Value::string(s);
}
Value B(bool b) {
    return Value::boolean(b);
}
}  // namespace

TEST_CASE("rasp value: numbers compare across bool, int and float; strings and none only with themselves") {
    CHECK(I(1) == F(1.0));
    CHECK(B(true) == I(1));
    CHECK(B(false) == F(0.0));
    CHECK(S("1") != I(1));
    CHECK(Value() == Value());
    CHECK(Value() != I(0));
    CHECK(value_less(Value(), I(-5)));
    CHECK(value_less(I(3), S("a")));
    CHECK(value_less(F(0.5), I(1)));
    std::vector<Value> v = {I(2), F(1.0), B(true), S("b"), S("a"), I(2)};
    sort_unique(v);
    REQUIRE(v.size() == 4);
    CHECK(v[0].is_float());  // 1.0 was first among the equal 1.0 and true
    CHECK(v[1] == I(2));
    CHECK(v[2].as_string() == "a");
}

TEST_CASE("rasp value: arithmetic follows Python (true division, floor division and modulo towards -inf)") {
    CHECK(apply_binary("+", I(2), I(3)).is_int());
    CHECK(apply_binary("/", I(1), I(2)) == F(0.5));
    CHECK(apply_binary("/", I(4), I(2)).is_float());
    CHECK(apply_binary("//", I(-7), I(2)) == I(-4));
    CHECK(apply_binary("%", I(-7), I(2)) == I(1));
    CHECK(apply_binary("%", I(7), I(-2)) == I(-1));
    CHECK(apply_binary("//", F(7.5), I(2)) == F(3.0));
    CHECK(apply_binary("+", S("a"), S("b")).as_string() == "ab");
    CHECK(apply_binary("+", B(true), B(true)) == I(2));
    CHECK_THROWS_AS(apply_binary("/", I(1), I(0)), ValueError);
    CHECK_THROWS_AS(apply_binary("%", I(1), I(0)), ValueError);
    CHECK_THROWS_AS(apply_binary("-", S("a"), I(1)), ValueError);
    CHECK_THROWS_AS(apply_binary("<", S("a"), I(1)), ValueError);
    CHECK_THROWS_AS(apply_binary("*", I(INT64_MAX), I(2)), ValueError);
    CHECK(apply_binary("==", S("a"), I(1)) == B(false));
    // `and` / `or` return an operand.
    CHECK(apply_binary("and", I(0), I(5)) == I(0));
    CHECK(apply_binary("or", I(0), I(5)) == I(5));
    CHECK(apply_unary("not", S("")) == B(true));
    CHECK(apply_unary("-", I(3)) == I(-3));
}

TEST_CASE("rasp value: built-ins min max abs round int float str") {
    CHECK(apply_builtin("min", {I(3), F(2.5), I(7)}) == F(2.5));
    CHECK(apply_builtin("max", {S("a"), S("c")}).as_string() == "c");
    CHECK(apply_builtin("abs", {I(-4)}) == I(4));
    CHECK(apply_builtin("round", {F(2.5)}) == I(2));  // half to even
    CHECK(apply_builtin("round", {F(3.5)}) == I(4));
    CHECK(apply_builtin("int", {F(-2.7)}) == I(-2));
    CHECK(apply_builtin("int", {S("12")}) == I(12));
    CHECK(apply_builtin("float", {I(2)}).is_float());
    CHECK(apply_builtin("str", {F(0.5)}).as_string() == "0.5");
    CHECK_THROWS_AS(apply_builtin("abs", {I(1), I(2)}), ValueError);
    CHECK_THROWS_AS(apply_builtin("int", {S("x")}), ValueError);
}

TEST_CASE("rasp value: printing uses the shortest exact decimal; tokens read numbers") {
    CHECK(F(0.1).to_string() == "0.1");
    CHECK(F(1.0).to_string() == "1");
    CHECK(F(2.0 / 3.0).to_string() == "0.6666666666666666");
    CHECK(format_float(2.0f / 3.0f) == "0.6666667");
    CHECK(B(true).to_string() == "true");
    CHECK(Value().to_string() == "none");
    CHECK(Value::from_token("12").is_int());
    CHECK(Value::from_token("-1.5") == F(-1.5));
    CHECK(Value::from_token("a").is_string());
    CHECK(Value::from_token("(").is_string());
    CHECK(Value::from_token("1e3") == I(1000));
}

}  // namespace circuits::rasp
