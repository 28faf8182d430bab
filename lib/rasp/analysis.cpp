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

    // A sequence_map of three or more s-ops: f over the product of their value sets.
    void sequence_map_n(const Node& nd, SopInfo& out) {
        double count = 1;
        out.uniform = true;
        for (int in : nd.inputs) {
            count *= static_cast<double>(info(in).values.size());
            out.may_be_none = out.may_be_none || info(in).may_be_none;
            out.uniform = out.uniform && info(in).uniform;
        }
        if (count > 1e6)
            throw Error(m_prog.where(nd.origin) + "'" + nd.name + "' combines " + format_double(count) +
                        " tuples of input values, more than the compiler's limit of 1e6" + nd.origin.context);
        std::vector<Value> args(nd.inputs.size());
        const auto visit = [&](const auto& self, size_t k) -> void {
            if (k == args.size()) {
                try {
                    const Value r = nd.fn(args);
                    if (r.is_none())
                        out.may_be_none = true;
                    else
                        out.values.push_back(r);
                } catch (const ValueError&) {
                }
                return;
            }
            for (const auto& v : info(nd.inputs[k]).values) {
                args[k] = v;
                self(self, k + 1);
            }
        };
        visit(visit, 0);
        sort_unique(out.values);
        check_size(nd, out.values);
    }

    void sequence_map(const Node& nd, SopInfo& out) {
        if (nd.inputs.size() > 2) return sequence_map_n(nd, out);
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

    // Every mean of 1..max_len values drawn from `values` (with repetition): sums of w values,
    // each divided by w.
    std::vector<Value> means(const Node& nd, const std::vector<Value>& values) const {
        std::vector<double> xs;
        for (const auto& v : values)
            if (v.is_number()) xs.push_back(v.to_double());
        std::vector<double> sums{0.0}, all;
        for (int w = 1; w <= m_prog.max_len; ++w) {
            std::vector<double> next;
            for (double s : sums)
                for (double x : xs) next.push_back(s + x);
            std::sort(next.begin(), next.end());
            next.erase(std::unique(next.begin(), next.end()), next.end());
            if (next.size() > kMaxValueSet)
                throw Error(m_prog.where(nd.origin) + "the mean '" + nd.name + "' computes can take more than " +
                            std::to_string(kMaxValueSet) + " values (sums of up to " + std::to_string(m_prog.max_len) +
                            " of " + std::to_string(xs.size()) + " values), more than the compiler's limit" +
                            nd.origin.context);
            for (double s : next) all.push_back(s / w);
            sums = std::move(next);
        }
        std::vector<Value> out;
        for (double m : all) out.push_back(Value::number(m));
        sort_unique(out);
        check_size(nd, out);
        return out;
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
            if (other)
                out.values = means(nd, v.values);
            else if (has0 && has1)
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
        // One position, or positions with equal values: the matching keys agree on a part that is
        // injective or that the values are a function of.
        bool keyed = false;
        for (size_t k = 0; k < s.key_parts.size(); ++k) {
            const int part = s.key_parts[k];
            keyed = keyed || (s.functional_parts[k] && (info(part).injective || function_of(nd.inputs[0], part)));
        }
        const bool clean = v.uniform || keyed;
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
                out.combined = a.combined;
                if (!a.combined) break;
                out.keys = a.keys;
                out.queries = a.queries;
                out.predicate = negated(a.predicate);
                break;
            }
            case SelectorKind::conjunction:
            case SelectorKind::disjunction:
                combine(sn, out);
                break;
        }
        if (out.combined) {
            out.key_parts = {out.keys};
            out.query_parts = {out.queries};
            combined_matrix(out);
        } else {
            joint(index, out);
        }
        facts(out);
        return out;
    }

    static Function negated(const Function& f) {
        FnNode call;
        call.kind = FnNode::Kind::apply;
        call.callee = std::make_shared<const Function>(f);
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
        return Function({"k", "q"}, std::make_shared<const FnNode>(neg));
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

    // A side (0 keys, 1 queries) of a combined selector that any s-op fits: its predicate ignores
    // it and its s-op is never none (so it is defined everywhere).
    bool free_side(const SelectorInfo& s, int side) const {
        const int n = side == 0 ? s.keys : s.queries;
        const SopInfo& i = m_out.sops[static_cast<size_t>(n)];
        return !i.may_be_none && !i.values.empty() && ignores(s, side);
    }

    void combine(const SelectorNode& sn, SelectorInfo& out) {
        const SelectorInfo a = selector(sn.operands[0]);
        const SelectorInfo b = selector(sn.operands[1]);
        const std::string op = sn.kind == SelectorKind::conjunction ? "and" : "or";
        out.combined = false;  // a joint selector unless both read the same s-ops
        if (!a.combined || !b.combined) return;
        // side 0: keys, side 1: queries.
        int common[2] = {-1, -1};
        std::vector<int> slots_a = {0, 1}, slots_b = {0, 1};
        std::vector<Value> fixed_a(2), fixed_b(2);
        for (int side = 0; side < 2; ++side) {
            const int na = side == 0 ? a.keys : a.queries;
            const int nb = side == 0 ? b.keys : b.queries;
            if (na == nb) {
                common[side] = na;
            } else if (free_side(a, side)) {
                common[side] = nb;
                slots_a[static_cast<size_t>(side)] = -1;
                fixed_a[static_cast<size_t>(side)] = m_out.sops[static_cast<size_t>(na)].values.front();
            } else if (free_side(b, side)) {
                common[side] = na;
                slots_b[static_cast<size_t>(side)] = -1;
                fixed_b[static_cast<size_t>(side)] = m_out.sops[static_cast<size_t>(nb)].values.front();
            } else {
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

    void combined_matrix(SelectorInfo& s) const {
        const auto& kv = m_out.sops[static_cast<size_t>(s.keys)].values;
        const auto& qv = m_out.sops[static_cast<size_t>(s.queries)].values;
        for (const auto& v : kv) s.key_labels.push_back(v.to_string());
        for (const auto& v : qv) s.query_labels.push_back(v.to_string());
        s.matrix.assign(qv.size(), std::vector<char>(kv.size(), 0));
        for (size_t a = 0; a < qv.size(); ++a)
            for (size_t b = 0; b < kv.size(); ++b) s.matrix[a][b] = holds(s.predicate, kv[b], qv[a]) ? 1 : 0;
    }

    // The s-ops each side of the selects under `s` reads; a side a select ignores (free_side) is
    // left out, any value fits it.
    void collect_parts(int s, std::vector<int>& keys, std::vector<int>& queries) {
        const SelectorNode& sn = m_prog.selector(s);
        if (sn.kind != SelectorKind::select) {
            for (int o : sn.operands) collect_parts(o, keys, queries);
            return;
        }
        const SelectorInfo& a = selector(s);
        const auto add = [](std::vector<int>& v, int n) {
            if (std::find(v.begin(), v.end(), n) == v.end()) v.push_back(n);
        };
        if (!free_side(a, 0)) add(keys, sn.keys);
        if (!free_side(a, 1)) add(queries, sn.queries);
    }

    // Whether selector s holds for the key values `kv` and query values `qv` ([node] -> value, null
    // for an s-op outside the parts, which its selects ignore).
    bool tree_holds(int s, const std::vector<const Value*>& kv, const std::vector<const Value*>& qv) const {
        const SelectorNode& sn = m_prog.selector(s);
        switch (sn.kind) {
            case SelectorKind::select: {
                const Value* k = kv[static_cast<size_t>(sn.keys)];
                const Value* q = qv[static_cast<size_t>(sn.queries)];
                return holds(sn.predicate, k ? *k : m_out.sops[static_cast<size_t>(sn.keys)].values.front(),
                             q ? *q : m_out.sops[static_cast<size_t>(sn.queries)].values.front());
            }
            case SelectorKind::conjunction:
                return tree_holds(sn.operands[0], kv, qv) && tree_holds(sn.operands[1], kv, qv);
            case SelectorKind::disjunction:
                return tree_holds(sn.operands[0], kv, qv) || tree_holds(sn.operands[1], kv, qv);
            case SelectorKind::negation:
                return !tree_holds(sn.operands[0], kv, qv);
        }
        return false;
    }

    // Every tuple of values of `parts` (first part most significant), with its label "(a, 3)".
    std::vector<std::vector<const Value*>> tuples(const std::vector<int>& parts, const SelectorNode& sn,
                                                  std::vector<std::string>& labels) const {
        double count = 1;
        for (int p : parts) count *= static_cast<double>(m_out.sops[static_cast<size_t>(p)].values.size());
        if (count > static_cast<double>(kMaxJointValues))
            throw Error(m_prog.where(sn.origin) + "this combination of selectors reads " +
                        std::to_string(parts.size()) + " s-ops on one side, whose " + format_double(count) +
                        " value tuples exceed the compiler's limit of " + std::to_string(kMaxJointValues) +
                        " for the joint s-op its head reads" + sn.origin.context);
        std::vector<std::vector<const Value*>> out(1, std::vector<const Value*>(m_prog.nodes.size(), nullptr));
        for (int p : parts) {
            std::vector<std::vector<const Value*>> next;
            for (const auto& t : out)
                for (const auto& v : m_out.sops[static_cast<size_t>(p)].values) {
                    next.push_back(t);
                    next.back()[static_cast<size_t>(p)] = &v;
                }
            out = std::move(next);
        }
        for (const auto& t : out) {
            std::string l;
            for (int p : parts) l += (l.empty() ? "(" : ", ") + t[static_cast<size_t>(p)]->to_string();
            labels.push_back(parts.size() > 1 ? l + ")" : l.substr(1));
        }
        return out;
    }

    // A selector over different s-ops: its matrix over the tuples of each side's parts.
    void joint(int index, SelectorInfo& s) {
        s.key_parts.clear();
        s.query_parts.clear();
        collect_parts(index, s.key_parts, s.query_parts);
        std::sort(s.key_parts.begin(), s.key_parts.end());
        std::sort(s.query_parts.begin(), s.query_parts.end());
        if (s.key_parts.empty()) s.key_parts = {kIndicesNode};
        if (s.query_parts.empty()) s.query_parts = {kIndicesNode};
        const SelectorNode& sn = m_prog.selector(index);
        const auto kt = tuples(s.key_parts, sn, s.key_labels);
        const auto qt = tuples(s.query_parts, sn, s.query_labels);
        s.matrix.assign(qt.size(), std::vector<char>(kt.size(), 0));
        for (size_t a = 0; a < qt.size(); ++a)
            for (size_t b = 0; b < kt.size(); ++b) s.matrix[a][b] = tree_holds(index, kt[b], qt[a]) ? 1 : 0;
    }

    bool never_none(const std::vector<int>& parts) const {
        for (int p : parts) {
            const SopInfo& i = m_out.sops[static_cast<size_t>(p)];
            if (i.may_be_none || i.values.empty()) return false;
        }
        return true;
    }

    void facts(SelectorInfo& s) {
        bool all = true;
        s.functional = true;
        for (const auto& r : s.matrix) {
            int matches = 0;
            for (char c : r) {
                matches += c;
                all = all && c;
            }
            if (matches > 1) s.functional = false;
        }
        s.functional_parts.assign(s.key_parts.size(), 1);
        for (size_t k = 0; k < s.key_parts.size(); ++k) {
            // The stride of part k in the tuple index (first part most significant).
            size_t stride = 1;
            for (size_t l = k + 1; l < s.key_parts.size(); ++l)
                stride *= m_out.sops[static_cast<size_t>(s.key_parts[l])].values.size();
            const size_t size = m_out.sops[static_cast<size_t>(s.key_parts[k])].values.size();
            for (const auto& r : s.matrix) {
                long seen = -1;
                for (size_t b = 0; b < r.size() && s.functional_parts[k]; ++b) {
                    if (!r[b]) continue;
                    const long v = static_cast<long>((b / stride) % size);
                    if (seen >= 0 && v != seen) s.functional_parts[k] = 0;
                    seen = v;
                }
            }
        }
        bool reflexive = s.key_parts == s.query_parts;
        for (size_t a = 0; reflexive && a < s.matrix.size(); ++a) reflexive = s.matrix[a][a] != 0;
        s.always_selects = never_none(s.key_parts) && never_none(s.query_parts) && (all || reflexive);
        s.query_independent = never_none(s.query_parts);
        for (const auto& r : s.matrix) s.query_independent = s.query_independent && r == s.matrix.front();
        // selected(i, j) = key_j < query_i (or >) over one s-op: the width is the rank.
        s.strict_order = false;
        if (s.combined && s.keys == s.queries && !s.matrix.empty()) {
            bool lt = true, gt = true;
            for (size_t a = 0; a < s.matrix.size(); ++a)
                for (size_t b = 0; b < s.matrix[a].size(); ++b) {
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
