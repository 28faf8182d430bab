// Elaboration: syntax tree -> graph of s-ops and selectors, then fusion of anonymous maps.
#include "lib/rasp/program.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "lib/error.hpp"
#include "lib/rasp/lexer.hpp"
#include "lib/rasp/parser.hpp"

namespace circuits::rasp {

std::string to_string(Encoding e) {
    return e == Encoding::numerical ? "numerical" : "categorical";
}

std::string to_string(NodeKind k) {
    switch (k) {
        case NodeKind::tokens:
            return "tokens";
        case NodeKind::indices:
            return "indices";
        case NodeKind::map:
            return "map";
        case NodeKind::sequence_map:
            return "sequence_map";
        case NodeKind::aggregate:
            return "aggregate";
        case NodeKind::selector_width:
            return "selector_width";
    }
    return "?";
}

std::string Program::where(const Origin& o) const {
    return location(filename, o.line, o.col);
}

std::vector<int> Program::live_nodes() const {
    std::vector<char> live(nodes.size(), 0);
    std::vector<int> stack{output};
    std::vector<int> sel_stack;
    const auto visit_selector = [&](int s) {
        sel_stack.push_back(s);
        while (!sel_stack.empty()) {
            const auto& sn = selector(sel_stack.back());
            sel_stack.pop_back();
            if (sn.kind == SelectorKind::select) {
                stack.push_back(sn.keys);
                stack.push_back(sn.queries);
            }
            for (int o : sn.operands) sel_stack.push_back(o);
        }
    };
    while (!stack.empty()) {
        const int n = stack.back();
        stack.pop_back();
        if (n < 0 || live[static_cast<size_t>(n)]) continue;
        live[static_cast<size_t>(n)] = 1;
        for (int i : node(n).inputs) stack.push_back(i);
        if (node(n).selector >= 0) visit_selector(node(n).selector);
    }
    std::vector<int> out;
    for (size_t i = 0; i < nodes.size(); ++i)
        if (live[i]) out.push_back(static_cast<int>(i));
    return out;
}

namespace {

// What an expression elaborates to.
struct Item {
    enum class Kind { constant, sop, selector };
    Kind kind = Kind::constant;
    Value value;         // constant
    int index = -1;      // sop: node; selector: selector
    bool fresh = false;  // a node made by this very expression, not yet bound or used
};

struct Binding {
    Item item;
    const Statement* def = nullptr;  // a `def`
    size_t order = 0;                // statement index, so that a def only sees earlier names
    int line = 0;
};

struct Scope {
    std::map<std::string, Item> locals;  // def parameters
    size_t visible = SIZE_MAX;           // globals with order < visible
    std::string context;                 // " (in 'f' called at line N)"
    std::string prefix;                  // "f@N", or "g@M/f@N" for nested calls
};

const char* kind_name(Item::Kind k) {
    switch (k) {
        case Item::Kind::constant:
            return "a constant";
        case Item::Kind::sop:
            return "an s-op";
        case Item::Kind::selector:
            return "a selector";
    }
    return "?";
}

class Elaborator {
public:
    explicit Elaborator(const Ast& ast) : m_ast(ast) {
        m_prog.filename = ast.filename;
        m_prog.source = ast.source;
        Node tokens;
        tokens.kind = NodeKind::tokens;
        tokens.name = "tokens";
        tokens.named = true;
        m_prog.nodes.push_back(tokens);
        Node indices;
        indices.kind = NodeKind::indices;
        indices.name = "indices";
        indices.named = true;
        m_prog.nodes.push_back(indices);
    }

    Program run() {
        bool have_vocab = false, have_max_len = false;
        const Statement* output = nullptr;
        for (size_t i = 0; i < m_ast.statements.size(); ++i) {
            const Statement& s = m_ast.statements[i];
            switch (s.kind) {
                case Statement::Kind::vocab:
                    if (have_vocab) fail(s.line, s.col, "a second 'vocab' line (the vocabulary is already given)");
                    have_vocab = true;
                    declare_vocab(s);
                    break;
                case Statement::Kind::max_len:
                    if (have_max_len) fail(s.line, s.col, "a second 'max_len' line");
                    have_max_len = true;
                    m_prog.max_len = s.max_len;
                    break;
                case Statement::Kind::causal:
                    m_prog.causal = true;
                    break;
                case Statement::Kind::let:
                    declare_let(s, i);
                    break;
                case Statement::Kind::def:
                    declare_def(s, i);
                    break;
                case Statement::Kind::bind:
                    declare_bind(s, i);
                    break;
                case Statement::Kind::output:
                    if (output)
                        fail(s.line, s.col,
                             "a second 'output' line (the output is already '" + output->name + "' at line " +
                                 std::to_string(output->line) + ")");
                    output = &s;
                    declare_output(s);
                    break;
            }
        }
        if (!output) throw Error(m_ast.filename + ": no 'output NAME' line (which s-op is the program's result?)");
        fuse();
        const auto live = m_prog.live_nodes();
        if (std::find(live.begin(), live.end(), kTokensNode) == live.end())
            fail(output->line, output->col,
                 "the output '" + output->name + "' does not depend on tokens (every program must use tokens)");
        name_anonymous(live);
        return std::move(m_prog);
    }

private:
    void declare_vocab(const Statement& s) {
        for (size_t a = 0; a < s.vocab.size(); ++a)
            for (size_t b = 0; b < a; ++b)
                if (s.vocab[a] == s.vocab[b])
                    fail(s.line, s.col, "token '" + s.vocab[a].to_string() + "' is listed twice in the vocabulary");
        m_prog.vocab = s.vocab;
    }

    void declare_let(const Statement& s, size_t i) {
        check_new_name(s);
        Scope scope;
        const Item item = expr(*s.expr, scope);
        if (item.kind != Item::Kind::constant)
            fail(s.expr->line, s.expr->col,
                 "'let " + s.name + "' must be a constant, but the expression is " + kind_name(item.kind));
        m_globals[s.name] = Binding{item, nullptr, i, s.line};
    }

    void declare_def(const Statement& s, size_t i) {
        check_new_name(s);
        for (size_t a = 0; a < s.params.size(); ++a)
            for (size_t b = 0; b < a; ++b)
                if (s.params[a] == s.params[b]) fail(s.line, s.col, "parameter '" + s.params[a] + "' is listed twice");
        m_globals[s.name] = Binding{Item{}, &s, i, s.line};
    }

    // NAME = EXPR: a fresh s-op takes the name; an existing one is only bound to it.
    void declare_bind(const Statement& s, size_t i) {
        check_new_name(s);
        Scope scope;
        Item item = expr(*s.expr, scope);
        if (item.kind == Item::Kind::sop && item.fresh) {
            Node& n = m_prog.nodes[static_cast<size_t>(item.index)];
            n.name = s.name;
            n.named = true;
        }
        item.fresh = false;
        m_globals[s.name] = Binding{item, nullptr, i, s.line};
    }

    void declare_output(const Statement& s) {
        Scope scope;
        const Item item = lookup(s.name, scope, s.line, s.col);
        if (item.kind != Item::Kind::sop)
            fail(s.line, s.col, "the output '" + s.name + "' must be an s-op, but it is " + kind_name(item.kind));
        m_prog.output = item.index;
        m_prog.output_line = s.line;
    }

    const Ast& m_ast;
    Program m_prog;
    std::map<std::string, Binding> m_globals;
    std::vector<std::string> m_expanding;  // defs being expanded, for the recursion guard
    std::string m_prefix;                  // the current def expansion, for generated names

    [[noreturn]] void fail(int line, int col, const std::string& msg, const std::string& context = "") const {
        throw Error(location(m_ast.filename, line, col) + msg + context);
    }

    void check_new_name(const Statement& s) const {
        if (s.name == "tokens" || s.name == "indices")
            fail(s.line, s.col, "'" + s.name + "' is built in and cannot be redefined");
        const auto it = m_globals.find(s.name);
        if (it != m_globals.end())
            fail(s.line, s.col, "'" + s.name + "' is already defined at line " + std::to_string(it->second.line));
    }

    Origin origin(const Expr& e, const Scope& scope) const { return Origin{e.line, e.col, scope.context}; }

    int add_node(Node n) {
        if (!m_prefix.empty()) n.scope = m_prefix + "/" + to_string(n.kind);
        m_prog.nodes.push_back(std::move(n));
        return static_cast<int>(m_prog.nodes.size()) - 1;
    }

    int add_selector(SelectorNode s) {
        m_prog.selectors.push_back(std::move(s));
        return static_cast<int>(m_prog.selectors.size()) - 1;
    }

    Item sop_item(int node) const { return Item{Item::Kind::sop, Value(), node, true}; }

    Item make_map(const Function& f, int input, const Expr& at, const Scope& scope) {
        Node n;
        n.kind = NodeKind::map;
        n.origin = origin(at, scope);
        n.inputs = {input};
        n.fn = f;
        return sop_item(add_node(std::move(n)));
    }

    Item make_sequence_map(const Function& f, int x, int y, const Expr& at, const Scope& scope) {
        // A sequence_map of one s-op with itself is a map: x -> f(x, x).
        if (x == y) return make_map(Function::diagonal(f), x, at, scope);
        Node n;
        n.kind = NodeKind::sequence_map;
        n.origin = origin(at, scope);
        n.inputs = {x, y};
        n.fn = f;
        return sop_item(add_node(std::move(n)));
    }

    Item lookup(const std::string& name, const Scope& scope, int line, int col) const {
        if (name == "tokens") return Item{Item::Kind::sop, Value(), kTokensNode, false};
        if (name == "indices") return Item{Item::Kind::sop, Value(), kIndicesNode, false};
        const auto local = scope.locals.find(name);
        if (local != scope.locals.end()) return local->second;
        const auto it = m_globals.find(name);
        if (it == m_globals.end() || it->second.order >= scope.visible) {
            std::string hint;
            if (name == "length") hint = " (define it: length = selector_width(select(tokens, tokens, true)))";
            fail(line, col, "unknown name '" + name + "'" + hint, scope.context);
        }
        if (it->second.def) fail(line, col, "'" + name + "' is a function; call it with arguments", scope.context);
        return it->second.item;
    }

    Value constant_of(const Item& item, const Expr& at, const Scope& scope, const std::string& what) const {
        if (item.kind != Item::Kind::constant)
            fail(at.line, at.col, what + " must be a constant, but it is " + kind_name(item.kind), scope.context);
        return item.value;
    }

    int sop_of(const Item& item, const Expr& at, const Scope& scope, const std::string& what) const {
        if (item.kind != Item::Kind::sop)
            fail(at.line, at.col, what + " must be an s-op, but it is " + kind_name(item.kind), scope.context);
        return item.index;
    }

    int selector_of(const Item& item, const Expr& at, const Scope& scope, const std::string& what) const {
        if (item.kind != Item::Kind::selector)
            fail(at.line, at.col, what + " must be a selector (select(...)), but it is " + kind_name(item.kind),
                 scope.context);
        return item.index;
    }

    Value fold(const Expr& at, const Scope& scope, const std::function<Value()>& f) const {
        try {
            return f();
        } catch (const ValueError& e) {
            fail(at.line, at.col, e.what(), scope.context);
        }
    }

    // --- lambdas ---

    FnNodePtr lambda_body(const Expr& e, const std::vector<std::string>& params, const Scope& scope) const {
        FnNode n;
        switch (e.kind) {
            case Expr::Kind::literal:
                n.kind = FnNode::Kind::constant;
                n.value = e.value;
                break;
            case Expr::Kind::name: {
                for (size_t i = 0; i < params.size(); ++i)
                    if (params[i] == e.text) {
                        n.kind = FnNode::Kind::param;
                        n.param = static_cast<int>(i);
                        return std::make_shared<const FnNode>(n);
                    }
                const Item item = lookup(e.text, scope, e.line, e.col);
                if (item.kind != Item::Kind::constant)
                    fail(e.line, e.col,
                         "'" + e.text + "' is " + kind_name(item.kind) +
                             "; a lambda computes on values (its parameters and constants), not on s-ops",
                         scope.context);
                n.kind = FnNode::Kind::constant;
                n.value = item.value;
                break;
            }
            case Expr::Kind::unary:
            case Expr::Kind::binary:
                n.kind = e.kind == Expr::Kind::unary ? FnNode::Kind::unary : FnNode::Kind::binary;
                n.op = e.text;
                for (const auto& a : e.args) n.args.push_back(lambda_body(*a, params, scope));
                break;
            case Expr::Kind::conditional:
                n.kind = FnNode::Kind::conditional;
                for (const auto& a : e.args) n.args.push_back(lambda_body(*a, params, scope));
                break;
            case Expr::Kind::call:
                if (!is_builtin(e.text))
                    fail(e.line, e.col,
                         "unknown function '" + e.text + "' in a lambda (available: min max abs round int float str)",
                         scope.context);
                for (const auto& k : e.arg_names)
                    if (!k.empty())
                        fail(e.line, e.col, e.text + "() takes no keyword argument '" + k + "'", scope.context);
                n.kind = FnNode::Kind::builtin;
                n.op = e.text;
                for (const auto& a : e.args) n.args.push_back(lambda_body(*a, params, scope));
                break;
            case Expr::Kind::lambda:
                fail(e.line, e.col, "a lambda cannot be nested in another lambda", scope.context);
            case Expr::Kind::operator_ref:
                fail(e.line, e.col, "a bare '" + e.text + "' is only allowed as the predicate of select(...)",
                     scope.context);
        }
        return std::make_shared<const FnNode>(std::move(n));
    }

    Function lambda(const Expr& e, size_t arity, const Scope& scope, const std::string& what) const {
        if (e.kind != Expr::Kind::lambda)
            fail(e.line, e.col,
                 what + " must be a lambda with " + std::to_string(arity) + " parameter" + (arity == 1 ? "" : "s") +
                     (arity == 1 ? " (x -> ...)" : arity == 2 ? " ((x, y) -> ...)" : " ((x, y, z, ...) -> ...)"),
                 scope.context);
        if (e.params.size() != arity)
            fail(e.line, e.col,
                 what + " must take " + std::to_string(arity) + " parameter" + (arity == 1 ? "" : "s") +
                     ", this lambda takes " + std::to_string(e.params.size()),
                 scope.context);
        for (size_t a = 0; a < e.params.size(); ++a)
            for (size_t b = 0; b < a; ++b)
                if (e.params[a] == e.params[b])
                    fail(e.line, e.col, "lambda parameter '" + e.params[a] + "' is listed twice", scope.context);
        return Function(e.params, lambda_body(*e.args[0], e.params, scope));
    }

    // --- s-op level expressions ---

    Item expr(const Expr& e, const Scope& scope) {
        switch (e.kind) {
            case Expr::Kind::literal:
                return Item{Item::Kind::constant, e.value, -1, false};
            case Expr::Kind::name:
                return lookup(e.text, scope, e.line, e.col);
            case Expr::Kind::unary:
                return unary(e, scope);
            case Expr::Kind::binary:
                return binary(e, scope);
            case Expr::Kind::conditional: {
                std::vector<Value> v;
                for (const auto& a : e.args) {
                    const Item item = expr(*a, scope);
                    if (item.kind != Item::Kind::constant)
                        fail(e.line, e.col,
                             "if-then-else computes on values inside a lambda; use map(...) or sequence_map(...) for "
                             "s-ops",
                             scope.context);
                    v.push_back(item.value);
                }
                return Item{Item::Kind::constant, v[0].truthy() ? v[1] : v[2], -1, false};
            }
            case Expr::Kind::call:
                return call(e, scope);
            case Expr::Kind::lambda:
                fail(e.line, e.col, "a lambda is only allowed as the function of map, sequence_map or select",
                     scope.context);
            case Expr::Kind::operator_ref:
                fail(e.line, e.col, "a bare '" + e.text + "' is only allowed as the predicate of select(...)",
                     scope.context);
        }
        return Item{};
    }

    Item unary(const Expr& e, const Scope& scope) {
        const Item x = expr(*e.args[0], scope);
        switch (x.kind) {
            case Item::Kind::constant:
                return Item{Item::Kind::constant, fold(e, scope, [&] { return apply_unary(e.text, x.value); }), -1,
                            false};
            case Item::Kind::sop:
                return make_map(Function::unary(e.text), x.index, e, scope);
            case Item::Kind::selector: {
                if (e.text != "not")
                    fail(e.line, e.col, "unary '" + e.text + "' does not apply to a selector", scope.context);
                SelectorNode s;
                s.kind = SelectorKind::negation;
                s.origin = origin(e, scope);
                s.operands = {x.index};
                return Item{Item::Kind::selector, Value(), add_selector(std::move(s)), true};
            }
        }
        return Item{};
    }

    Item binary(const Expr& e, const Scope& scope) {
        const Item a = expr(*e.args[0], scope);
        const Item b = expr(*e.args[1], scope);
        const std::string& op = e.text;
        if (a.kind == Item::Kind::selector || b.kind == Item::Kind::selector) {
            if (a.kind != b.kind || (op != "and" && op != "or"))
                fail(e.line, e.col,
                     "'" + op + "' of " + kind_name(a.kind) + " and " + kind_name(b.kind) +
                         (op == "and" || op == "or" ? " (selectors combine only with selectors)"
                                                    : " (selectors combine with and, or, not)"),
                     scope.context);
            SelectorNode s;
            s.kind = op == "and" ? SelectorKind::conjunction : SelectorKind::disjunction;
            s.origin = origin(e, scope);
            s.operands = {a.index, b.index};
            return Item{Item::Kind::selector, Value(), add_selector(std::move(s)), true};
        }
        if (a.kind == Item::Kind::constant && b.kind == Item::Kind::constant)
            return Item{Item::Kind::constant, fold(e, scope, [&] { return apply_binary(op, a.value, b.value); }), -1,
                        false};
        if (a.kind == Item::Kind::sop && b.kind == Item::Kind::constant)
            return make_map(Function::binary_with_constant(op, b.value, false), a.index, e, scope);
        if (a.kind == Item::Kind::constant && b.kind == Item::Kind::sop)
            return make_map(Function::binary_with_constant(op, a.value, true), b.index, e, scope);
        return make_sequence_map(Function::binary(op), a.index, b.index, e, scope);
    }

    void want_args(const Expr& e, const Scope& scope, size_t min, size_t max, const std::string& usage) const {
        size_t positional = 0;
        for (const auto& k : e.arg_names)
            if (k.empty()) ++positional;
        if (positional < min || positional > max)
            fail(e.line, e.col,
                 e.text + "() takes " +
                     (min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max)) +
                     " argument" + (max == 1 ? "" : "s") + ", got " + std::to_string(positional) + " (usage: " + usage +
                     ")",
                 scope.context);
        for (size_t i = 0; i < e.arg_names.size(); ++i)
            if (!e.arg_names[i].empty() && !(e.text == "aggregate" && e.arg_names[i] == "default"))
                fail(e.args[i]->line, e.args[i]->col,
                     e.text + "() has no argument named '" + e.arg_names[i] + "' (usage: " + usage + ")",
                     scope.context);
            else if (e.arg_names[i].empty() && i >= positional)
                fail(e.args[i]->line, e.args[i]->col, "a positional argument cannot follow a named one", scope.context);
    }

    Item call(const Expr& e, const Scope& scope) {
        const std::string& f = e.text;
        if (f == "map") {
            want_args(e, scope, 2, 2, "map(x -> EXPR, s)");
            const Function fn = lambda(*e.args[0], 1, scope, "the first argument of map");
            const int x = sop_of(expr(*e.args[1], scope), *e.args[1], scope, "the second argument of map");
            return make_map(fn, x, e, scope);
        }
        if (f == "sequence_map") {
            want_args(e, scope, 3, 9, "sequence_map((x, y) -> EXPR, s1, s2) or sequence_map((x, y, z) -> EXPR, s1, s2, s3)");
            const Function fn = lambda(*e.args[0], e.args.size() - 1, scope, "the first argument of sequence_map");
            std::vector<int> inputs;
            for (size_t i = 1; i < e.args.size(); ++i)
                inputs.push_back(sop_of(expr(*e.args[i], scope), *e.args[i], scope,
                                        "argument " + std::to_string(i + 1) + " of sequence_map"));
            if (inputs.size() == 2) return make_sequence_map(fn, inputs[0], inputs[1], e, scope);
            Node n;
            n.kind = NodeKind::sequence_map;
            n.origin = origin(e, scope);
            n.inputs = inputs;
            n.fn = fn;
            return sop_item(add_node(std::move(n)));
        }
        if (f == "select") return call_select(e, scope);
        if (f == "aggregate") return call_aggregate(e, scope);
        if (f == "selector_width") {
            want_args(e, scope, 1, 1, "selector_width(SEL)");
            Node n;
            n.kind = NodeKind::selector_width;
            n.origin = origin(e, scope);
            n.selector = selector_of(expr(*e.args[0], scope), *e.args[0], scope, "the argument of selector_width");
            return sop_item(add_node(std::move(n)));
        }
        if (f == "numerical" || f == "categorical") return call_encoding(e, scope);
        if (is_builtin(f)) return call_builtin(e, scope);
        return call_def(e, scope);
    }

    Item call_select(const Expr& e, const Scope& scope) {
        want_args(e, scope, 3, 3, "select(KEYS, QUERIES, PRED)");
        SelectorNode s;
        s.kind = SelectorKind::select;
        s.origin = origin(e, scope);
        s.keys = sop_of(expr(*e.args[0], scope), *e.args[0], scope, "the keys of select");
        s.queries = sop_of(expr(*e.args[1], scope), *e.args[1], scope, "the queries of select");
        const Expr& p = *e.args[2];
        if (p.kind == Expr::Kind::operator_ref) {
            s.predicate = Function::binary(p.text);
            s.predicate = Function({"k", "q"}, s.predicate.body());
        } else if (p.kind == Expr::Kind::lambda) {
            s.predicate = lambda(p, 2, scope, "the predicate of select");
        } else {
            const Item c = expr(p, scope);
            if (c.kind != Item::Kind::constant || !c.value.is_bool())
                fail(p.line, p.col,
                     "the predicate of select must be one of == != < <= > >= true false or a lambda (k, q) -> ...",
                     scope.context);
            s.predicate = Function::constant(c.value, 2);
        }
        return Item{Item::Kind::selector, Value(), add_selector(std::move(s)), true};
    }

    Item call_aggregate(const Expr& e, const Scope& scope) {
        want_args(e, scope, 2, 2, "aggregate(SEL, s) or aggregate(SEL, s, default: VALUE)");
        Node n;
        n.kind = NodeKind::aggregate;
        n.origin = origin(e, scope);
        n.selector = selector_of(expr(*e.args[0], scope), *e.args[0], scope, "the first argument of aggregate");
        const int value = sop_of(expr(*e.args[1], scope), *e.args[1], scope, "the second argument of aggregate");
        n.inputs = {value};
        n.encoding = m_prog.node(value).encoding;
        for (size_t i = 0; i < e.args.size(); ++i)
            if (e.arg_names[i] == "default")
                n.default_value = constant_of(expr(*e.args[i], scope), *e.args[i], scope, "the default of aggregate");
        return sop_item(add_node(std::move(n)));
    }

    // numerical(s) / categorical(s): sets a fresh s-op's encoding, or converts a named one.
    Item call_encoding(const Expr& e, const Scope& scope) {
        const std::string& f = e.text;
        want_args(e, scope, 1, 1, f + "(s)");
        Item x = expr(*e.args[0], scope);
        sop_of(x, *e.args[0], scope, "the argument of " + f);
        const Encoding enc = f == "numerical" ? Encoding::numerical : Encoding::categorical;
        Node& n = m_prog.nodes[static_cast<size_t>(x.index)];
        if (n.encoding == enc) return x;
        if (x.fresh) {
            n.encoding = enc;
            return x;
        }
        // An s-op that already has a name keeps its encoding; the conversion is a new map.
        Item conv = make_map(Function::identity(), x.index, e, scope);
        m_prog.nodes[static_cast<size_t>(conv.index)].encoding = enc;
        return conv;
    }

    // A built-in on constants, folded at compile time.
    Item call_builtin(const Expr& e, const Scope& scope) {
        const std::string& f = e.text;
        std::vector<Value> args;
        for (size_t i = 0; i < e.args.size(); ++i) {
            const Item a = expr(*e.args[i], scope);
            if (a.kind != Item::Kind::constant)
                fail(e.line, e.col, f + "() computes on values; for an s-op use map(x -> " + f + "(x), s)",
                     scope.context);
            if (!e.arg_names[i].empty())
                fail(e.line, e.col, f + "() takes no keyword argument '" + e.arg_names[i] + "'", scope.context);
            args.push_back(a.value);
        }
        return Item{Item::Kind::constant, fold(e, scope, [&] { return apply_builtin(f, args); }), -1, false};
    }

    // A call of a def visible from `scope`.
    Item call_def(const Expr& e, const Scope& scope) {
        const std::string& f = e.text;
        const auto it = m_globals.find(f);
        if (it == m_globals.end() || it->second.order >= scope.visible || !it->second.def) {
            if (it != m_globals.end() && it->second.order < scope.visible && !it->second.def)
                fail(e.line, e.col, "'" + f + "' is " + kind_name(it->second.item.kind) + ", not a function",
                     scope.context);
            fail(e.line, e.col,
                 "unknown function '" + f +
                     "' (built in: map, sequence_map, select, aggregate, selector_width, numerical, categorical; or a "
                     "def)",
                 scope.context);
        }
        return expand(e, *it->second.def, it->second.order, scope);
    }

    Item expand(const Expr& e, const Statement& def, size_t order, const Scope& scope) {
        if (e.args.size() != def.params.size())
            fail(
                e.line, e.col,
                "'" + def.name + "' takes " + std::to_string(def.params.size()) + " argument" +
                    (def.params.size() == 1 ? "" : "s") + " (" +
                    [&] {
                        std::string p;
                        for (size_t i = 0; i < def.params.size(); ++i) p += (i ? ", " : "") + def.params[i];
                        return p;
                    }() +
                    "), got " + std::to_string(e.args.size()),
                scope.context);
        // Each expansion recurses: a chain of thousands of defs would overflow the stack.
        constexpr size_t kMaxDefDepth = 200;
        if (m_expanding.size() >= kMaxDefDepth)
            fail(e.line, e.col, "defs nested deeper than " + std::to_string(kMaxDefDepth) + " calls", scope.context);
        if (std::find(m_expanding.begin(), m_expanding.end(), def.name) != m_expanding.end())
            fail(e.line, e.col, "'" + def.name + "' calls itself; recursion is not supported", scope.context);
        Scope inner;
        inner.visible = order;
        // " (in 'f' called at line 9)", or " (in 'f' called at line 9, in 'g' called at line 12)".
        inner.context = " (in '" + def.name + "' called at line " + std::to_string(e.line) +
                        (scope.context.empty() ? ")" : ", " + scope.context.substr(2));
        for (size_t i = 0; i < e.args.size(); ++i) {
            if (!e.arg_names[i].empty())
                fail(e.args[i]->line, e.args[i]->col, "'" + def.name + "' takes no named arguments", scope.context);
            Item a = expr(*e.args[i], scope);
            a.fresh = false;  // a parameter may be used several times
            inner.locals[def.params[i]] = a;
        }
        m_expanding.push_back(def.name);
        const std::string outer_prefix = m_prefix;
        m_prefix = (outer_prefix.empty() ? "" : outer_prefix + "/") + def.name + "@" + std::to_string(e.line);
        Item result = expr(*def.expr, inner);
        if (result.kind == Item::Kind::sop && result.fresh)
            m_prog.nodes[static_cast<size_t>(result.index)].scope = m_prefix;
        m_prefix = outer_prefix;
        m_expanding.pop_back();
        return result;
    }

    // --- fusion of anonymous maps into their single user ---

    // How many live nodes and selectors read each node.
    std::vector<int> consumers() const {
        std::vector<int> count(m_prog.nodes.size(), 0);
        std::vector<int> selectors;
        for (int n : m_prog.live_nodes()) {
            for (int i : m_prog.node(n).inputs) ++count[static_cast<size_t>(i)];
            if (m_prog.node(n).selector >= 0) selectors.push_back(m_prog.node(n).selector);
        }
        while (!selectors.empty()) {
            const auto& s = m_prog.selector(selectors.back());
            selectors.pop_back();
            if (s.kind == SelectorKind::select) {
                ++count[static_cast<size_t>(s.keys)];
                ++count[static_cast<size_t>(s.queries)];
            }
            for (int o : s.operands) selectors.push_back(o);
        }
        return count;
    }

    // An anonymous categorical map or sequence_map read only by one map or sequence_map can be
    // folded into it. Its inputs must be categorical (the fused node then compiles whatever its
    // encoding), except that a map of a map may read a numerical s-op (the fused map discretises
    // that s-op once instead of twice).
    bool fusable(int i, const std::vector<int>& count, bool into_map) const {
        const Node& n = m_prog.node(i);
        if (n.named || i == m_prog.output || count[static_cast<size_t>(i)] != 1) return false;
        if (n.kind != NodeKind::map && n.kind != NodeKind::sequence_map) return false;
        if (n.inputs.size() > 2) return false;
        if (n.encoding != Encoding::categorical) return false;
        if (into_map && n.kind == NodeKind::map) return true;
        for (int in : n.inputs)
            if (m_prog.node(in).encoding != Encoding::categorical) return false;
        return true;
    }

    void fuse() {
        bool changed = true;
        while (changed) {
            changed = false;
            const auto count = consumers();
            for (int u : m_prog.live_nodes()) {
                Node& user = m_prog.nodes[static_cast<size_t>(u)];
                if (user.kind == NodeKind::map && fusable(user.inputs[0], count, true)) {
                    const Node inner = m_prog.node(user.inputs[0]);
                    user.fn = Function::compose(user.fn, inner.fn);
                    user.kind = inner.kind;
                    user.inputs = inner.inputs;
                    changed = true;
                    break;
                }
                if (user.kind == NodeKind::sequence_map && user.inputs.size() == 2) {
                    for (size_t k = 0; k < 2; ++k) {
                        const int in = user.inputs[k];
                        if (!fusable(in, count, false) || m_prog.node(in).kind != NodeKind::map) continue;
                        // (x, y) -> f(g(x), y) or f(x, g(y)), none propagating.
                        const Function g = m_prog.node(in).fn;
                        FnNode gx;
                        gx.kind = FnNode::Kind::apply;
                        gx.callee = std::make_shared<const Function>(g);
                        FnNode px;
                        px.kind = FnNode::Kind::param;
                        px.param = static_cast<int>(k);
                        gx.args = {std::make_shared<const FnNode>(px)};
                        FnNode py;
                        py.kind = FnNode::Kind::param;
                        py.param = static_cast<int>(1 - k);
                        FnNode call;
                        call.kind = FnNode::Kind::apply;
                        call.callee = std::make_shared<const Function>(user.fn);
                        call.args.resize(2);
                        call.args[k] = std::make_shared<const FnNode>(gx);
                        call.args[1 - k] = std::make_shared<const FnNode>(py);
                        user.fn = Function(user.fn.params(), std::make_shared<const FnNode>(call));
                        user.inputs[k] = m_prog.node(in).inputs[0];
                        if (user.inputs[0] == user.inputs[1]) {
                            user.kind = NodeKind::map;
                            user.fn = Function::diagonal(user.fn);
                            user.inputs = {user.inputs[0]};
                        }
                        changed = true;
                        break;
                    }
                    if (changed) break;
                }
            }
        }
    }

    void name_anonymous(const std::vector<int>& live) {
        std::set<std::string> used;
        for (const auto& n : m_prog.nodes)
            if (n.named) used.insert(n.name);
        for (int i : live) {
            Node& n = m_prog.nodes[static_cast<size_t>(i)];
            if (n.named) continue;
            const std::string base =
                n.scope.empty() ? to_string(n.kind) + "@" + std::to_string(n.origin.line) : n.scope;
            std::string name = base;
            for (int k = 2; used.count(name); ++k) name = base + "." + std::to_string(k);
            used.insert(name);
            n.name = name;
        }
    }
};

}  // namespace

Program elaborate(const Ast& ast) {
    return Elaborator(ast).run();
}

Program parse_program(const std::string& source, const std::string& filename) {
    return elaborate(parse(source, filename));
}

Program load_program(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open the program file");
    std::ostringstream ss;
    ss << in.rdbuf();
    return parse_program(ss.str(), path);
}

void apply_overrides(Program& program, const ProgramOverrides& o) {
    if (o.vocab) {
        const auto& v = *o.vocab;
        for (size_t a = 0; a < v.size(); ++a)
            for (size_t b = 0; b < a; ++b)
                if (v[a] == v[b]) throw Error("--vocab: token '" + v[a].to_string() + "' is listed twice");
        program.vocab = v;
    }
    if (o.max_len) {
        if (*o.max_len < 1 || *o.max_len > 4096)
            throw Error("--max-len must be between 1 and 4096, got " + std::to_string(*o.max_len));
        program.max_len = *o.max_len;
    }
    if (o.causal) program.causal = true;
}

}  // namespace circuits::rasp
