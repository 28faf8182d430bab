// Value-set inference and the structural facts the compiler relies on.
#include "lib/rasp/analysis.hpp"

#include <algorithm>
#include <map>

#include "lib/error.hpp"

namespace circuits::rasp {

std::vector<Value> mean_values(int max_len) {
    std::vector<Value> out;
    for (int w = 1; w <= max_len; ++w)
        for (int k = 0; k <= w; ++k) out.push_back(Value::number(static_cast<double>(k) / w));
    sort_unique(out);
    return out;
}

namespace {

// f(args), or none when f fails: value sets skip inputs that raise errors.
Value try_call(const Function& f, const std::vector<Value>& args) {
    try {
        return f(args);
    } catch (const ValueError&) {
        return Value();
    }
}

bool holds(const Function& p, const Value& k, const Value& q) {
    return try_call(p, {k, q}).truthy();
}

class Analyser {
public:
    explicit Analyser(const Program& p) : m_prog(p) {
        m_out.sops.resize(p.nodes.size());
        m_out.selectors.resize(p.selectors.size());
        m_selector_done.assign(p.selectors.size(), 0);
    }

    Analysis run() {
        if (m_prog.vocab.empty()) throw Error(m_prog.filename + ": no vocabulary (add a 'vocab' line or pass --vocab)");
        if (m_prog.max_len <= 0) throw Error(m_prog.filename + ": no max_len (add a 'max_len' line or pass --max-len)");
        const auto live = m_prog.live_nodes();
        for (int n : live) {
            m_out.sops[static_cast<size_t>(n)].live = true;
            node(n);
        }
        for (int n : live) {
            for (int i : m_prog.node(n).inputs) m_out.sops[static_cast<size_t>(i)].consumed = true;
            if (m_prog.node(n).selector >= 0) mark_selector_inputs(m_prog.node(n).selector);
        }
        return std::move(m_out);
    }

private:
    const Program& m_prog;
    Analysis m_out;
    std::vector<char> m_selector_done;

    SopInfo& info(int n) { return m_out.sops[static_cast<size_t>(n)]; }

    void mark_selector_inputs(int s) {
        const auto& sn = m_prog.selector(s);
        if (sn.kind == SelectorKind::select) {
            info(sn.keys).consumed = true;
            info(sn.queries).consumed = true;
        }
        for (int o : sn.operands) mark_selector_inputs(o);
    }

    void check_size(const Node& nd, const std::vector<Value>& values) const {
        if (values.size() > kMaxValueSet)
            throw Error(m_prog.where(nd.origin) + "'" + nd.name + "' can take " + std::to_string(values.size()) +
                        " values, more than the compiler's limit of " + std::to_string(kMaxValueSet) +
                        nd.origin.context);
    }

    // Whether `v` is `k` or computed from `k` by maps only (then equal keys carry equal values).
    bool function_of(int v, int k) const {
        while (true) {
            if (v == k) return true;
            const Node& nd = m_prog.node(v);
            if (nd.kind != NodeKind::map) return false;
            v = nd.inputs[0];
        }
    }

    void node(int n) {
        const Node& nd = m_prog.node(n);
        SopInfo& out = info(n);
        const int L = m_prog.max_len;
        switch (nd.kind) {
            case NodeKind::tokens:
                out.values = m_prog.vocab;
                sort_unique(out.values);
                out.uniform = out.values.size() == 1;
                return;
            case NodeKind::indices:
                for (int i = 0; i < L; ++i) out.values.push_back(Value::integer(i));
                out.injective = true;
                out.uniform = L == 1;
                return;
            case NodeKind::map: {
                const SopInfo& x = info(nd.inputs[0]);
                out.may_be_none = x.may_be_none;
                std::vector<Value> images;
                bool gaps = false;  // an input value the map sends to none or fails on
                for (const auto& v : x.values) {
                    Value r;
                    try {
                        r = nd.fn(v);
                    } catch (const ValueError&) {
                        gaps = true;
                        continue;
                    }
                    if (r.is_none()) {
                        out.may_be_none = true;
                        gaps = true;
                        continue;
                    }
                    images.push_back(r);
                }
                out.values = images;
                sort_unique(out.values);
                check_size(nd, out.values);
                out.uniform = x.uniform;
                out.injective = x.injective && !gaps && out.values.size() == images.size();
                return;
            }
            case NodeKind::sequence_map:
                return sequence_map(nd, out);
            case NodeKind::selector_width: {
                const SelectorInfo& s = selector(nd.selector);
                for (int w = 0; w <= L; ++w) out.values.push_back(Value::integer(w));
                out.uniform = s.query_independent && !m_prog.causal;
                out.injective = s.combined && s.strict_order && info(s.keys).injective && !m_prog.causal;
                return;
            }
            case NodeKind::aggregate:
                return aggregate(nd, out);
        }
    }

    void sequence_map(const Node& nd, SopInfo& out) {
        const SopInfo& x = info(nd.inputs[0]);
        const SopInfo& y = info(nd.inputs[1]);
        if (static_cast<double>(x.values.size()) * static_cast<double>(y.values.size()) > 1e6)
            throw Error(m_prog.where(nd.origin) + "'" + nd.name + "' combines " + std::to_string(x.values.size()) +
                        " x " + std::to_string(y.values.size()) +
                        " input values, more than the compiler's limit of 1e6" + nd.origin.context);
        out.may_be_none = x.may_be_none || y.may_be_none;
        // results[a][b] = f(x_a, y_b), none where f fails or gives none.
        std::vector<std::vector<Value>> results(x.values.size(), std::vector<Value>(y.values.size()));
        std::vector<Value> all;
        bool any_none = false;
        for (size_t a = 0; a < x.values.size(); ++a)
            for (size_t b = 0; b < y.values.size(); ++b) {
                bool failed = false;
                try {
                    results[a][b] = nd.fn(x.values[a], y.values[b]);
                } catch (const ValueError&) {
                    failed = true;
                }
                if (results[a][b].is_none()) {
                    if (!failed) out.may_be_none = true;
                    any_none = true;
                    continue;
                }
                all.push_back(results[a][b]);
            }
        out.values = all;
        sort_unique(out.values);
        check_size(nd, out.values);
        out.uniform = x.uniform && y.uniform;
        // Injective when one input is injective and the function keeps distinct inputs apart: for
        // every fixed value of a uniform other input, or over all pairs otherwise.
        const auto injective_rows = [&](bool over_x, bool per_other) {
            const size_t outer = over_x ? y.values.size() : x.values.size();
            const size_t inner = over_x ? x.values.size() : y.values.size();
            const auto at = [&](size_t o, size_t i) -> const Value& { return over_x ? results[i][o] : results[o][i]; };
            if (per_other) {
                for (size_t o = 0; o < outer; ++o)
                    for (size_t i = 0; i < inner; ++i)
                        for (size_t j = 0; j < i; ++j)
                            if (at(o, i) == at(o, j)) return false;
                return true;
            }
            std::vector<Value> seen = all;
            const size_t n = seen.size();
            sort_unique(seen);
            return seen.size() == n;
        };
        if (!any_none) {
            if (x.injective) out.injective = injective_rows(true, y.uniform);
            if (!out.injective && y.injective) out.injective = injective_rows(false, x.uniform);
        }
    }

    void aggregate(const Node& nd, SopInfo& out) {
        const SelectorInfo& s = selector(nd.selector);
        const SopInfo& v = info(nd.inputs[0]);
        const bool may_be_empty = !s.always_selects;
        if (nd.encoding == Encoding::numerical) {
            bool has0 = false, has1 = false, other = false;
            for (const auto& x : v.values) {
                if (x.is_number() && x.to_double() == 0.0)
                    has0 = true;
                else if (x.is_number() && x.to_double() == 1.0)
                    has1 = true;
                else
                    other = true;
            }
            if (other || (has0 && has1))
                out.values = mean_values(m_prog.max_len);
            else if (has1)
                out.values = {Value::number(1.0)};
            else if (has0)
                out.values = {Value::number(0.0)};
            if (may_be_empty && !nd.default_value.is_none()) out.values.push_back(nd.default_value);
            sort_unique(out.values);
            out.may_be_none = v.may_be_none || (may_be_empty && nd.default_value.is_none());
            out.uniform = s.query_independent && !m_prog.causal && !out.may_be_none;
            return;
        }
        out.values = v.values;
        if (may_be_empty && !nd.default_value.is_none()) out.values.push_back(nd.default_value);
        sort_unique(out.values);
        // The selected keys carry one value when the values are uniform, or when the predicate
        // picks one key value per query and equal key values mean equal values (injective keys,
        // or values computed from the keys).
        const bool clean =
            v.uniform || (s.combined && s.functional && (info(s.keys).injective || function_of(nd.inputs[0], s.keys)));
        out.ambiguous = !clean;
        out.may_be_none = v.may_be_none || (may_be_empty && nd.default_value.is_none()) || out.ambiguous;
        out.uniform = s.query_independent && !m_prog.causal && clean && !out.may_be_none;
    }

    const SelectorInfo& selector(int index) {
        SelectorInfo& out = m_out.selectors[static_cast<size_t>(index)];
        if (m_selector_done[static_cast<size_t>(index)]) return out;
        m_selector_done[static_cast<size_t>(index)] = 1;
        const SelectorNode& sn = m_prog.selector(index);
        switch (sn.kind) {
            case SelectorKind::select:
                out.combined = true;
                out.keys = sn.keys;
                out.queries = sn.queries;
                out.predicate = sn.predicate;
                break;
            case SelectorKind::negation: {
                const SelectorInfo& a = selector(sn.operands[0]);
                out = a;
                if (!a.combined) break;
                FnNode call;
                call.kind = FnNode::Kind::apply;
                call.callee = std::make_shared<const Function>(a.predicate);
                for (int i = 0; i < 2; ++i) {
                    FnNode p;
                    p.kind = FnNode::Kind::param;
                    p.param = i;
                    call.args.push_back(std::make_shared<const FnNode>(p));
                }
                FnNode neg;
                neg.kind = FnNode::Kind::unary;
                neg.op = "not";
                neg.args = {std::make_shared<const FnNode>(call)};
                out.predicate = Function({"k", "q"}, std::make_shared<const FnNode>(neg));
                break;
            }
            case SelectorKind::conjunction:
            case SelectorKind::disjunction:
                combine(sn, out);
                break;
        }
        if (out.combined) facts(out);
        return out;
    }

    // Whether the predicate of `s` gives the same result for every key (side 0) or query (side 1).
    bool ignores(const SelectorInfo& s, int side) const {
        const auto& kv = m_out.sops[static_cast<size_t>(s.keys)].values;
        const auto& qv = m_out.sops[static_cast<size_t>(s.queries)].values;
        if (side == 0) {
            for (const auto& q : qv)
                for (const auto& k : kv)
                    if (holds(s.predicate, k, q) != holds(s.predicate, kv.front(), q)) return false;
        } else {
            for (const auto& k : kv)
                for (const auto& q : qv)
                    if (holds(s.predicate, k, q) != holds(s.predicate, k, qv.front())) return false;
        }
        return true;
    }

    void combine(const SelectorNode& sn, SelectorInfo& out) {
        const SelectorInfo a = selector(sn.operands[0]);
        const SelectorInfo b = selector(sn.operands[1]);
        const std::string op = sn.kind == SelectorKind::conjunction ? "and" : "or";
        if (!a.combined || !b.combined) {
            out.combined = false;
            out.why = !a.combined ? a.why : b.why;
            return;
        }
        // side 0: keys, side 1: queries. A select that ignores a side whose s-op is never none
        // (so it is defined everywhere) fits the other select's s-op on that side.
        int common[2] = {-1, -1};
        std::vector<int> slots_a = {0, 1}, slots_b = {0, 1};
        std::vector<Value> fixed_a(2), fixed_b(2);
        for (int side = 0; side < 2; ++side) {
            const int na = side == 0 ? a.keys : a.queries;
            const int nb = side == 0 ? b.keys : b.queries;
            if (na == nb) {
                common[side] = na;
                continue;
            }
            const auto free_side = [&](const SelectorInfo& s, int n) {
                const SopInfo& i = m_out.sops[static_cast<size_t>(n)];
                return !i.may_be_none && !i.values.empty() && ignores(s, side);
            };
            if (free_side(a, na)) {
                common[side] = nb;
                slots_a[static_cast<size_t>(side)] = -1;
                fixed_a[static_cast<size_t>(side)] = m_out.sops[static_cast<size_t>(na)].values.front();
            } else if (free_side(b, nb)) {
                common[side] = na;
                slots_b[static_cast<size_t>(side)] = -1;
                fixed_b[static_cast<size_t>(side)] = m_out.sops[static_cast<size_t>(nb)].values.front();
            } else {
                const std::string what = side == 0 ? "keys" : "queries";
                out.combined = false;
                out.why = "'" + op + "' combines selectors over different " + what + " ('" + m_prog.node(na).name +
                          "' and '" + m_prog.node(nb).name +
                          "'); only selectors over the same key and query s-ops become one attention head";
                return;
            }
        }
        FnNode node;
        node.kind = FnNode::Kind::binary;
        node.op = op;
        const auto call = [](const Function& f) {
            FnNode c;
            c.kind = FnNode::Kind::apply;
            c.callee = std::make_shared<const Function>(f);
            for (int i = 0; i < 2; ++i) {
                FnNode p;
                p.kind = FnNode::Kind::param;
                p.param = i;
                c.args.push_back(std::make_shared<const FnNode>(p));
            }
            FnNode truth;  // bool(...) of the predicate's result
            truth.kind = FnNode::Kind::unary;
            truth.op = "not";
            truth.args = {std::make_shared<const FnNode>(c)};
            FnNode twice;
            twice.kind = FnNode::Kind::unary;
            twice.op = "not";
            twice.args = {std::make_shared<const FnNode>(truth)};
            return std::make_shared<const FnNode>(twice);
        };
        node.args = {call(Function::rebind(a.predicate, slots_a, fixed_a)),
                     call(Function::rebind(b.predicate, slots_b, fixed_b))};
        out.combined = true;
        out.keys = common[0];
        out.queries = common[1];
        out.predicate = Function({"k", "q"}, std::make_shared<const FnNode>(node));
    }

    void facts(SelectorInfo& s) {
        const SopInfo& k = info(s.keys);
        const SopInfo& q = info(s.queries);
        s.matrix.assign(q.values.size(), std::vector<char>(k.values.size(), 0));
        bool all = true;
        s.functional = true;
        for (size_t a = 0; a < q.values.size(); ++a) {
            int matches = 0;
            for (size_t b = 0; b < k.values.size(); ++b) {
                s.matrix[a][b] = holds(s.predicate, k.values[b], q.values[a]) ? 1 : 0;
                matches += s.matrix[a][b];
                all = all && s.matrix[a][b];
            }
            if (matches > 1) s.functional = false;
        }
        bool reflexive = s.keys == s.queries;
        if (reflexive)
            for (size_t a = 0; a < q.values.size(); ++a) reflexive = reflexive && s.matrix[a][a];
        s.always_selects = !k.may_be_none && !q.may_be_none && !k.values.empty() && (all || reflexive);
        s.query_independent = !q.may_be_none && ignores(s, 1);
        // selected(i, j) = key_j < query_i (or >) over one s-op: the width is the rank.
        s.strict_order = false;
        if (s.keys == s.queries && !k.values.empty()) {
            bool lt = true, gt = true;
            for (size_t a = 0; a < q.values.size(); ++a)
                for (size_t b = 0; b < k.values.size(); ++b) {
                    lt = lt && (s.matrix[a][b] != 0) == (b < a);
                    gt = gt && (s.matrix[a][b] != 0) == (b > a);
                }
            s.strict_order = lt || gt;
        }
    }
};

}  // namespace

Analysis analyse(const Program& program) {
    return Analyser(program).run();
}

}  // namespace circuits::rasp
