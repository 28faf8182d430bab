// Tests of functions on values: composition propagates none, diagonal and rebinding, printing.
#include "lib/rasp/function.hpp"

#include <doctest/doctest.h>

namespace circuits::rasp {

TEST_CASE("rasp function: constants on either side of an operator") {
    const Function minus_one = Function::binary_with_constant("-", Value::integer(1), false);
    const Function one_minus = Function::binary_with_constant("-", Value::integer(1), true);
    CHECK(minus_one(Value::integer(5)) == Value::integer(4));
    CHECK(one_minus(Value::integer(5)) == Value::integer(-4));
    CHECK(minus_one.text() == "x -> (x - 1)");
    CHECK_THROWS_AS(minus_one(Value::string("a")), ValueError);
}

TEST_CASE("rasp function: composition propagates none from the inner function, as maps do") {
    // inner: x -> none where x == 0 (a division by zero would raise instead), else 10 // x
    FnNode cond;
    cond.kind = FnNode::Kind::conditional;
    FnNode is_zero;
    is_zero.kind = FnNode::Kind::binary;
    is_zero.op = "==";
    FnNode x;
    x.kind = FnNode::Kind::param;
    FnNode zero;
    zero.value = Value::integer(0);
    is_zero.args = {std::make_shared<const FnNode>(x), std::make_shared<const FnNode>(zero)};
    FnNode none;  // constant none
    const Function ten_div = Function::binary_with_constant("//", Value::integer(10), true);
    FnNode call;
    call.kind = FnNode::Kind::apply;
    call.callee = std::make_shared<const Function>(ten_div);
    call.args = {std::make_shared<const FnNode>(x)};
    cond.args = {std::make_shared<const FnNode>(is_zero), std::make_shared<const FnNode>(none),
                 std::make_shared<const FnNode>(call)};
    const Function inner({"x"}, std::make_shared<const FnNode>(cond));
    // outer: y -> y is none?  `not y` would be true for none, but it is never called with none.
    const Function outer = Function::unary("not");
    const Function both = Function::compose(outer, inner);
    CHECK(both(Value::integer(0)).is_none());
    CHECK(both(Value::integer(5)) == Value::boolean(false));
    CHECK(inner(Value::integer(0)).is_none());
}

TEST_CASE("rasp function: diagonal and rebind place arguments") {
    const Function minus = Function::binary("-");
    CHECK(Function::diagonal(minus)(Value::integer(7)) == Value::integer(0));
    // (k, q) -> minus(3, q): the key slot fixed to 3.
    const Function fixed = Function::rebind(minus, {-1, 1}, {Value::integer(3), Value()});
    CHECK(fixed(Value::integer(100), Value::integer(1)) == Value::integer(2));
    const Function swapped = Function::rebind(minus, {1, 0}, {Value(), Value()});
    CHECK(swapped(Value::integer(1), Value::integer(5)) == Value::integer(4));
}

}  // namespace circuits::rasp
