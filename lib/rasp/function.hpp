// Functions on values: the lambdas of map, sequence_map and select, and their compositions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/rasp/value.hpp"

namespace circuits::rasp {

class Function;

// One node of a function body.
struct FnNode {
    enum class Kind {
        constant,     // value
        param,        // param: index of the argument
        unary,        // op; args = [operand]
        binary,       // op; args = [left, right]
        conditional,  // args = [condition, then, else]
        builtin,      // op = name; args
        apply         // callee applied to args; a none argument makes the whole function none
    };
    Kind kind = Kind::constant;
    Value value;
    int param = 0;
    std::string op;
    std::vector<std::shared_ptr<const FnNode>> args;
    std::shared_ptr<const Function> callee;
};
using FnNodePtr = std::shared_ptr<const FnNode>;

// A function of `arity` values. Calling it evaluates the body; a ValueError (division by zero, a
// type mismatch) propagates to the caller.
class Function {
public:
    Function() = default;
    Function(std::vector<std::string> params, FnNodePtr body);

    int arity() const { return static_cast<int>(m_params.size()); }
    const std::vector<std::string>& params() const { return m_params; }
    const FnNodePtr& body() const { return m_body; }

    // Evaluates the function; none when an `apply` stage received none (maps propagate none).
    Value operator()(const std::vector<Value>& args) const;
    Value operator()(const Value& x) const { return (*this)(std::vector<Value>{x}); }
    Value operator()(const Value& x, const Value& y) const { return (*this)(std::vector<Value>{x, y}); }

    // Source-like text, e.g. "x -> x + 1".
    std::string text() const;

    // x -> x OP c, x -> c OP x (constant_first), (x, y) -> x OP y, x -> OP x.
    static Function binary_with_constant(const std::string& op, const Value& c, bool constant_first);
    static Function binary(const std::string& op);
    static Function unary(const std::string& op);
    // x -> x.
    static Function identity();
    // The same constant for any `arity` arguments.
    static Function constant(const Value& c, int arity);
    // outer(inner(args...)), none when inner gives none.
    static Function compose(const Function& outer, const Function& inner);
    // x -> f(x, x) for a two-argument f.
    static Function diagonal(const Function& f);
    // A two-argument function that calls f with its arguments placed as `slots` says: a slot >= 0
    // takes that argument of the new function, a slot of -1 takes the fixed value in `fixed`.
    static Function rebind(const Function& f, const std::vector<int>& slots, const std::vector<Value>& fixed);

private:
    std::vector<std::string> m_params;
    FnNodePtr m_body;
};

}  // namespace circuits::rasp
