// Evaluation, composition and printing of functions on values.
#include "lib/rasp/function.hpp"

namespace circuits::rasp {

namespace {

// Thrown inside one evaluation when an `apply` stage meets none; caught by Function::operator().
struct NoneSignal {};

Value eval(const FnNode& n, const std::vector<Value>& args) {
    switch (n.kind) {
        case FnNode::Kind::constant:
            return n.value;
        case FnNode::Kind::param:
            return args[static_cast<size_t>(n.param)];
        case FnNode::Kind::unary:
            return apply_unary(n.op, eval(*n.args[0], args));
        case FnNode::Kind::binary: {
            // `and` / `or` short-circuit, as in Python.
            const Value left = eval(*n.args[0], args);
            if (n.op == "and" && !left.truthy()) return left;
            if (n.op == "or" && left.truthy()) return left;
            return apply_binary(n.op, left, eval(*n.args[1], args));
        }
        case FnNode::Kind::conditional:
            return eval(*n.args[0], args).truthy() ? eval(*n.args[1], args) : eval(*n.args[2], args);
        case FnNode::Kind::builtin: {
            std::vector<Value> v;
            for (const auto& a : n.args) v.push_back(eval(*a, args));
            return apply_builtin(n.op, v);
        }
        case FnNode::Kind::apply: {
            std::vector<Value> v;
            for (const auto& a : n.args) {
                v.push_back(eval(*a, args));
                if (v.back().is_none()) throw NoneSignal{};
            }
            const Value r = (*n.callee)(v);
            if (r.is_none()) throw NoneSignal{};
            return r;
        }
    }
    return Value();
}

FnNodePtr node(FnNode n) {
    return std::make_shared<const FnNode>(std::move(n));
}
FnNodePtr param(int i) {
    FnNode n;
    n.kind = FnNode::Kind::param;
    n.param = i;
    return node(std::move(n));
}
FnNodePtr constant_node(const Value& v) {
    FnNode n;
    n.kind = FnNode::Kind::constant;
    n.value = v;
    return node(std::move(n));
}

std::string literal(const Value& v) {
    if (v.is_string()) return "\"" + v.as_string() + "\"";
    return v.to_string();
}

std::string print(const FnNode& n, const std::vector<std::string>& params) {
    switch (n.kind) {
        case FnNode::Kind::constant:
            return literal(n.value);
        case FnNode::Kind::param:
            return params[static_cast<size_t>(n.param)];
        case FnNode::Kind::unary:
            return n.op + (n.op == "not" ? " " : "") + print(*n.args[0], params);
        case FnNode::Kind::binary:
            return "(" + print(*n.args[0], params) + " " + n.op + " " + print(*n.args[1], params) + ")";
        case FnNode::Kind::conditional:
            return "(if " + print(*n.args[0], params) + " then " + print(*n.args[1], params) + " else " +
                   print(*n.args[2], params) + ")";
        case FnNode::Kind::builtin:
        case FnNode::Kind::apply: {
            std::string s = n.kind == FnNode::Kind::builtin ? n.op : "(" + n.callee->text() + ")";
            s += "(";
            for (size_t i = 0; i < n.args.size(); ++i) s += (i ? ", " : "") + print(*n.args[i], params);
            return s + ")";
        }
    }
    return "?";
}

}  // namespace

Function::Function(std::vector<std::string> params, FnNodePtr body)
    : m_params(std::move(params)), m_body(std::move(body)) {}

Value Function::operator()(const std::vector<Value>& args) const {
    if (static_cast<int>(args.size()) != arity())
        throw ValueError("function of " + std::to_string(arity()) + " arguments called with " +
                         std::to_string(args.size()));
    try {
        return eval(*m_body, args);
    } catch (const NoneSignal&) {
        return Value();
    }
}

std::string Function::text() const {
    std::string head;
    if (m_params.size() == 1) {
        head = m_params[0];
    } else {
        head = "(";
        for (size_t i = 0; i < m_params.size(); ++i) head += (i ? ", " : "") + m_params[i];
        head += ")";
    }
    return head + " -> " + print(*m_body, m_params);
}

Function Function::binary_with_constant(const std::string& op, const Value& c, bool constant_first) {
    FnNode n;
    n.kind = FnNode::Kind::binary;
    n.op = op;
    n.args = constant_first ? std::vector<FnNodePtr>{constant_node(c), param(0)}
                            : std::vector<FnNodePtr>{param(0), constant_node(c)};
    return Function({"x"}, node(std::move(n)));
}

Function Function::binary(const std::string& op) {
    FnNode n;
    n.kind = FnNode::Kind::binary;
    n.op = op;
    n.args = {param(0), param(1)};
    return Function({"x", "y"}, node(std::move(n)));
}

Function Function::unary(const std::string& op) {
    FnNode n;
    n.kind = FnNode::Kind::unary;
    n.op = op;
    n.args = {param(0)};
    return Function({"x"}, node(std::move(n)));
}

Function Function::identity() {
    return Function({"x"}, param(0));
}

Function Function::constant(const Value& c, int arity) {
    std::vector<std::string> p;
    for (int i = 0; i < arity; ++i) p.push_back(i == 0 ? "x" : (i == 1 ? "y" : "x" + std::to_string(i)));
    return Function(p, constant_node(c));
}

Function Function::compose(const Function& outer, const Function& inner) {
    FnNode inner_call;
    inner_call.kind = FnNode::Kind::apply;
    inner_call.callee = std::make_shared<const Function>(inner);
    for (int i = 0; i < inner.arity(); ++i) inner_call.args.push_back(param(i));
    FnNode outer_call;
    outer_call.kind = FnNode::Kind::apply;
    outer_call.callee = std::make_shared<const Function>(outer);
    outer_call.args = {node(std::move(inner_call))};
    return Function(inner.params(), node(std::move(outer_call)));
}

Function Function::diagonal(const Function& f) {
    FnNode call;
    call.kind = FnNode::Kind::apply;
    call.callee = std::make_shared<const Function>(f);
    call.args = {param(0), param(0)};
    return Function({f.params().empty() ? "x" : f.params()[0]}, node(std::move(call)));
}

Function Function::rebind(const Function& f, const std::vector<int>& slots, const std::vector<Value>& fixed) {
    FnNode call;
    call.kind = FnNode::Kind::apply;
    call.callee = std::make_shared<const Function>(f);
    for (size_t i = 0; i < slots.size(); ++i)
        call.args.push_back(slots[i] >= 0 ? param(slots[i]) : constant_node(fixed[i]));
    return Function({"k", "q"}, node(std::move(call)));
}

}  // namespace circuits::rasp
