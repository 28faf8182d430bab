// The reference evaluator of RASP programs.
#include "lib/rasp/evaluator.hpp"

#include <cstdint>

#include "lib/error.hpp"

namespace circuits::rasp {

namespace {

// A selector's value on one input: [query i][key j] selected, and whether (i, j) is defined
// (neither the key nor the query is none).
struct SelectorValue {
    size_t n = 0;
    std::vector<std::uint8_t> selected;  // [n * n], row = query
    std::vector<std::uint8_t> defined;   // [n * n]
    bool at(size_t i, size_t j) const { return selected[i * n + j] != 0; }
};

class Evaluator {
public:
    Evaluator(const Program& p, const std::vector<Value>& input)
        : m_prog(p), m_input(input), m_values(p.nodes.size()) {}

    std::vector<std::vector<Value>> run() {
        for (int i : m_prog.live_nodes()) m_values[static_cast<size_t>(i)] = node(i);
        return std::move(m_values);
    }

private:
    const Program& m_prog;
    const std::vector<Value>& m_input;
    std::vector<std::vector<Value>> m_values;

    size_t n() const { return m_input.size(); }
    const std::vector<Value>& values(int node) const { return m_values[static_cast<size_t>(node)]; }

    [[noreturn]] void fail(const Origin& o, const std::string& msg, size_t position) const {
        throw Error(m_prog.where(o) + msg + " at position " + std::to_string(position) + o.context);
    }

    std::vector<Value> node(int index) {
        const Node& nd = m_prog.node(index);
        std::vector<Value> out(n());
        switch (nd.kind) {
            case NodeKind::tokens:
                return m_input;
            case NodeKind::indices:
                for (size_t i = 0; i < n(); ++i) out[i] = Value::integer(static_cast<std::int64_t>(i));
                return out;
            case NodeKind::map: {
                const auto& x = values(nd.inputs[0]);
                for (size_t i = 0; i < n(); ++i) {
                    if (x[i].is_none()) continue;
                    try {
                        out[i] = nd.fn(x[i]);
                    } catch (const ValueError& e) {
                        fail(nd.origin,
                             std::string(e.what()) + " in " + nd.fn.text() + " (input " + x[i].to_string() + ")", i);
                    }
                }
                return out;
            }
            case NodeKind::sequence_map: {
                std::vector<Value> args(nd.inputs.size());
                for (size_t i = 0; i < n(); ++i) {
                    bool none = false;
                    for (size_t a = 0; a < args.size(); ++a) {
                        args[a] = values(nd.inputs[a])[i];
                        none = none || args[a].is_none();
                    }
                    if (none) continue;
                    try {
                        out[i] = nd.fn(args);
                    } catch (const ValueError& e) {
                        std::string shown;
                        for (const auto& a : args) shown += (shown.empty() ? "" : ", ") + a.to_string();
                        fail(nd.origin, std::string(e.what()) + " in " + nd.fn.text() + " (inputs " + shown + ")", i);
                    }
                }
                return out;
            }
            case NodeKind::selector_width: {
                const SelectorValue s = selector(nd.selector);
                for (size_t i = 0; i < n(); ++i) {
                    std::int64_t w = 0;
                    for (size_t j = 0; j < n(); ++j)
                        if (s.at(i, j) && (!m_prog.causal || j <= i)) ++w;
                    out[i] = Value::integer(w);
                }
                return out;
            }
            case NodeKind::aggregate:
                return aggregate(nd);
        }
        return out;
    }

    std::vector<Value> aggregate(const Node& nd) {
        const SelectorValue s = selector(nd.selector);
        const auto& v = values(nd.inputs[0]);
        std::vector<Value> out(n());
        for (size_t i = 0; i < n(); ++i) {
            std::vector<size_t> chosen;
            for (size_t j = 0; j < n(); ++j)
                if (s.at(i, j) && (!m_prog.causal || j <= i)) chosen.push_back(j);
            if (chosen.empty()) {
                out[i] = nd.default_value;
                continue;
            }
            if (nd.encoding == Encoding::numerical) {
                double sum = 0.0;
                bool none = false;
                for (size_t j : chosen) {
                    if (v[j].is_none()) {
                        none = true;
                        break;
                    }
                    if (!v[j].is_number())
                        fail(nd.origin,
                             "numerical aggregate of the non-numeric value '" + v[j].to_string() + "' (from position " +
                                 std::to_string(j) + ")",
                             i);
                    sum += v[j].to_double();
                }
                out[i] = none ? Value() : Value::number(sum / static_cast<double>(chosen.size()));
            } else {
                bool same = true;
                for (size_t j : chosen) same = same && v[j] == v[chosen[0]];
                out[i] = same ? v[chosen[0]] : Value();
            }
        }
        return out;
    }

    SelectorValue selector(int index) {
        const SelectorNode& sn = m_prog.selector(index);
        SelectorValue out;
        out.n = n();
        out.selected.assign(n() * n(), 0);
        out.defined.assign(n() * n(), 0);
        switch (sn.kind) {
            case SelectorKind::select: {
                const auto& k = values(sn.keys);
                const auto& q = values(sn.queries);
                for (size_t i = 0; i < n(); ++i)
                    for (size_t j = 0; j < n(); ++j) {
                        if (k[j].is_none() || q[i].is_none()) continue;
                        out.defined[i * n() + j] = 1;
                        try {
                            out.selected[i * n() + j] = sn.predicate(k[j], q[i]).truthy() ? 1 : 0;
                        } catch (const ValueError& e) {
                            fail(sn.origin,
                                 std::string(e.what()) + " in the predicate " + sn.predicate.text() + " (key " +
                                     k[j].to_string() + " at position " + std::to_string(j) + ", query " +
                                     q[i].to_string() + ")",
                                 i);
                        }
                    }
                return out;
            }
            case SelectorKind::conjunction:
            case SelectorKind::disjunction: {
                const SelectorValue a = selector(sn.operands[0]);
                const SelectorValue b = selector(sn.operands[1]);
                for (size_t t = 0; t < n() * n(); ++t) {
                    out.defined[t] = a.defined[t] & b.defined[t];
                    const bool s = sn.kind == SelectorKind::conjunction ? (a.selected[t] && b.selected[t])
                                                                        : (a.selected[t] || b.selected[t]);
                    out.selected[t] = (s && out.defined[t]) ? 1 : 0;
                }
                return out;
            }
            case SelectorKind::negation: {
                const SelectorValue a = selector(sn.operands[0]);
                for (size_t t = 0; t < n() * n(); ++t) {
                    out.defined[t] = a.defined[t];
                    out.selected[t] = (a.defined[t] && !a.selected[t]) ? 1 : 0;
                }
                return out;
            }
        }
        return out;
    }
};

}  // namespace

std::vector<std::vector<Value>> evaluate_all(const Program& program, const std::vector<Value>& input) {
    return Evaluator(program, input).run();
}

std::vector<Value> evaluate(const Program& program, const std::vector<Value>& input) {
    auto all = evaluate_all(program, input);
    return std::move(all[static_cast<size_t>(program.output)]);
}

std::vector<Value> tokens_from_strings(const Program& program, const std::vector<std::string>& input) {
    if (program.max_len > 0 && static_cast<int>(input.size()) > program.max_len)
        throw Error(program.filename + ": the input has " + std::to_string(input.size()) +
                    " tokens, more than max_len = " + std::to_string(program.max_len));
    std::vector<Value> out;
    for (const auto& s : input) {
        if (program.vocab.empty()) {
            out.push_back(Value::from_token(s));
            continue;
        }
        bool found = false;
        for (const auto& v : program.vocab)
            if (v.to_string() == s) {
                out.push_back(v);
                found = true;
                break;
            }
        if (!found) {
            std::string vocab;
            for (const auto& v : program.vocab) vocab += (vocab.empty() ? "" : " ") + v.to_string();
            throw Error(program.filename + ": token '" + s + "' is not in the vocabulary (" + vocab + ")");
        }
    }
    return out;
}

}  // namespace circuits::rasp
