// The RASP compiler: restrictions, residual layout, attention heads and MLPs, layer allocation, assembly.
#include "lib/rasp/compiler.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "lib/error.hpp"
#include "lib/rasp/analysis.hpp"

namespace circuits::rasp {

double softmax_temperature(int max_len, double leak) {
    return 2.0 * std::log(std::max(1, max_len) / leak);
}

namespace {

using Sparse = std::map<int, double>;  // residual row -> weight

struct Entry {
    int row;  // residual row (W_Q, W_K, W_V) or head dimension (W_O)
    int col;  // head dimension (W_Q, W_K, W_V) or residual row (W_O)
    double value;
};

// One attention head: sparse W_Q, W_K, W_V [d_model, dims] and W_O [dims, d_model]. W_Q entries
// are in units of the temperature (1 = a selected key).
struct HeadBlock {
    int node = -1;
    int dims = 0;
    std::vector<Entry> q, k, v, o;
};

// One hidden unit: relu(in . x + bias), written to the residual stream with weights `out`.
struct Unit {
    Sparse in;
    double bias = 0.0;
    Sparse out;
};

struct MlpBlock {
    int node = -1;
    int joint = -1;  // the MLP of a joint s-op (Compiler::Joint), node -1
    std::vector<Unit> units;
};

// Smallest distance between two input values of a numerical MLP that tell different outputs
// apart, relative to max(1, |x|): the compiled input carries float32 and attention errors.
constexpr double kMinGap = 1e-5;

// Largest model the compiler builds (float32 weights: 2 GB).
constexpr double kMaxParameters = 5e8;

class Compiler {
public:
    Compiler(const Program& p, const CompileOptions& o) : m_prog(p), m_opt(o) {}

    Model run() {
        for (const auto& v : m_prog.vocab)
            if (v.to_string() == kBos)
                throw Error(m_prog.filename + ": the vocabulary contains '" + kBos +
                            "', the compiled model's BOS token");
        m_info = analyse(m_prog);
        m_live = m_prog.live_nodes();
        for (int n : m_live) check(n);
        layout();
        for (size_t j = 0; j < m_joints.size(); ++j) build_joint(j);
        for (int n : m_live) build(n);
        allocate();
        return assemble();
    }

    CompiledGraph graph() const;

private:
    static constexpr const char* kBos = "BOS";
    const Program& m_prog;
    const CompileOptions& m_opt;
    Analysis m_info;
    std::vector<int> m_live;

    std::vector<std::string> m_labels;
    std::vector<int> m_base;     // [node] first residual row, -1 if none
    std::vector<int> m_scratch;  // [node] selector_width's BOS-attention row
    int m_one = 0, m_bos = 1;

    // A joint s-op (SelectorInfo): the tuples of several s-ops' values, read by a selector's head.
    struct Joint {
        std::vector<int> parts;
        std::vector<int> row_of;  // [tuple] residual row, -1 for a tuple no head compares
    };
    std::vector<Joint> m_joints;
    std::map<std::vector<int>, int> m_joint_of;  // parts -> index into m_joints

    std::vector<HeadBlock> m_heads;
    std::vector<MlpBlock> m_mlps;
    std::vector<int> m_head_sub, m_mlp_sub;
    std::vector<int> m_ready;  // [node] the last sub-layer the node uses (-1: embedding)  // sub-layer of each head / MLP block (attention 2l, MLP 2l+1)

    const Node& node(int n) const { return m_prog.node(n); }
    const SopInfo& info(int n) const { return m_info.sop(n); }

    [[noreturn]] void fail(const Origin& o, const std::string& msg) const {
        throw Error(m_prog.where(o) + msg + o.context);
    }

    std::string quoted(int n) const { return "'" + node(n).name + "'"; }
    // 'tokens', or '(tokens, indices)' for a joint s-op.
    std::string side_name(const std::vector<int>& parts) const {
        if (parts.size() == 1) return quoted(parts[0]);
        return "'" + joint_name(parts) + "'";
    }
    std::string joint_name(const std::vector<int>& parts) const {
        std::string s;
        for (int p : parts) s += (s.empty() ? "(" : ", ") + node(p).name;
        return s + ")";
    }
    std::string defined_at(int n) const {
        return node(n).origin.line > 0 ? " (line " + std::to_string(node(n).origin.line) + ")" : "";
    }

    // A selector as written: "select(indices, opp, ==) and not select(...)".
    std::string selector_text(int s) const {
        const SelectorNode& sn = m_prog.selector(s);
        switch (sn.kind) {
            case SelectorKind::select: {
                std::string p = sn.predicate.text();
                const auto arrow = p.find("-> ");
                if (arrow != std::string::npos) p = p.substr(arrow + 3);
                return "select(" + node(sn.keys).name + ", " + node(sn.queries).name + ", " + p + ")";
            }
            case SelectorKind::negation:
                return "not " + selector_text(sn.operands[0]);
            case SelectorKind::conjunction:
            case SelectorKind::disjunction:
                return "(" + selector_text(sn.operands[0]) +
                       (sn.kind == SelectorKind::conjunction ? " and " : " or ") + selector_text(sn.operands[1]) + ")";
        }
        return "";
    }

    // --- restrictions ---

    bool needs_cleanup(int n) const {
        return node(n).kind == NodeKind::aggregate && node(n).encoding == Encoding::categorical && info(n).ambiguous &&
               info(n).consumed;
    }

    void check_selects(int s, const Origin& user) const {
        const SelectorNode& sn = m_prog.selector(s);
        if (sn.kind == SelectorKind::select) {
            for (int side = 0; side < 2; ++side) {
                const int n = side == 0 ? sn.keys : sn.queries;
                if (node(n).encoding == Encoding::numerical)
                    fail(sn.origin,
                         std::string("select ") + (side == 0 ? "keys" : "queries") + " must be categorical, but " +
                             quoted(n) + defined_at(n) +
                             " is numerical (a compiled head compares one-hot values; use categorical(...))");
            }
        }
        for (int o : sn.operands) check_selects(o, user);
    }

    void check_numbers(int n) const {
        if (node(n).encoding != Encoding::numerical) return;
        for (const auto& v : info(n).values)
            if (!v.is_number())
                fail(node(n).origin, "numerical s-op " + quoted(n) + " can take the non-numeric value '" +
                                         v.to_string() + "' (numerical s-ops hold numbers; use categorical)");
    }

    void check(int n) {
        const Node& nd = node(n);
        check_numbers(n);
        for (int in : nd.inputs)
            if (node(in).encoding == Encoding::numerical && info(in).may_be_none)
                fail(nd.origin,
                     quoted(in) + defined_at(in) +
                         " is numerical and can be none, which the compiled model holds as 0; give its aggregate a "
                         "default (default: 0) or make it categorical");
        switch (nd.kind) {
            case NodeKind::tokens:
            case NodeKind::indices:
                break;
            case NodeKind::map:
                break;
            case NodeKind::sequence_map: {
                if (nd.inputs.size() > 2) {
                    for (int in : nd.inputs)
                        if (node(in).encoding != Encoding::categorical)
                            fail(nd.origin, "a sequence_map of " + std::to_string(nd.inputs.size()) +
                                                " s-ops compiles from categorical inputs only, but " + quoted(in) +
                                                defined_at(in) + " is numerical (use categorical(...))");
                    break;
                }
                const Encoding ex = node(nd.inputs[0]).encoding, ey = node(nd.inputs[1]).encoding;
                if (ex != ey)
                    fail(nd.origin, "sequence_map of " + to_string(ex) + " " + quoted(nd.inputs[0]) + " and " +
                                        to_string(ey) + " " + quoted(nd.inputs[1]) +
                                        " cannot be compiled; make both categorical (categorical(...)), or both "
                                        "numerical with a linear function");
                if (ex == Encoding::numerical) {
                    if (nd.encoding != Encoding::numerical)
                        fail(nd.origin,
                             "sequence_map of numerical s-ops must itself be numerical (wrap it in numerical(...)) and "
                             "linear");
                    double a = 0, b = 0, c = 0;
                    if (!fit_affine2(nd, a, b, c))
                        fail(nd.origin, "sequence_map of numerical s-ops must be linear (a*x + b*y + c) to compile; " +
                                            nd.fn.text() + " is not (make the inputs categorical for any function)");
                }
                break;
            }
            case NodeKind::selector_width:
                check_selects(nd.selector, nd.origin);
                break;
            case NodeKind::aggregate:
                check_aggregate(n);
                break;
        }
        if (m_opt.attention_only) {
            std::string why;
            if (nd.kind == NodeKind::map) why = "a map, which is computed by an MLP";
            if (nd.kind == NodeKind::sequence_map) why = "a sequence_map, which is computed by an MLP";
            if (nd.kind == NodeKind::selector_width)
                why = "a selector_width, which needs an MLP to decode its attention to BOS";
            if (needs_cleanup(n))
                why =
                    "a categorical aggregate whose selected keys may carry different values and whose result is used "
                    "later; the compiled model cleans it with an MLP";
            if (nd.selector >= 0 && why.empty()) {
                const SelectorInfo& s = m_info.selector(nd.selector);
                if (s.joint_keys() || s.joint_queries())
                    why = "computed by a head whose selector combines different s-ops; the joint s-op " +
                          side_name(s.joint_keys() ? s.key_parts : s.query_parts) + " it compares is built by an MLP";
            }
            if (!why.empty())
                fail(nd.origin, quoted(n) + " is " + why + ", and --attention-only allows attention layers only");
        }
    }

    void check_aggregate(int n) {
        const Node& nd = node(n);
        check_selects(nd.selector, nd.origin);
        const SelectorInfo& s = m_info.selector(nd.selector);
        const int value = nd.inputs[0];
        const SopInfo& v = info(value);
        const bool may_be_empty = !s.always_selects;
        if (nd.encoding == Encoding::numerical) {
            for (const auto& x : v.values)
                if (!x.is_number())
                    fail(nd.origin, "numerical aggregate of non-numeric values: " + quoted(value) + defined_at(value) +
                                        " can be '" + x.to_string() + "' (a mean needs numbers)");
            if (v.may_be_none)
                fail(nd.origin, "numerical aggregate of " + quoted(value) + defined_at(value) +
                                    ", which can be none: the compiled mean would count none as 0");
            if (may_be_empty && !nd.default_value.is_none() && !nd.default_value.is_number())
                fail(nd.origin, "a numerical aggregate's default must be a number, not '" +
                                    nd.default_value.to_string() + "'");
            return;
        }
        if (node(value).encoding == Encoding::numerical)
            fail(nd.origin, "categorical aggregate of the numerical s-op " + quoted(value) + defined_at(value) +
                                "; make the aggregate numerical(...) for a mean, or its values categorical");
        bool one_value = s.functional;  // per query: one key value, or one value of a key part
        for (char f : s.functional_parts) one_value = one_value || f;
        if (!one_value && !v.uniform) {
            const auto& kv = s.key_labels;
            const auto& qv = s.query_labels;
            for (size_t a = 0; a < qv.size(); ++a) {
                std::vector<size_t> hits;
                for (size_t b = 0; b < kv.size(); ++b)
                    if (s.matrix[a][b]) hits.push_back(b);
                if (hits.size() > 1)
                    fail(nd.origin,
                         "categorical aggregate can select several keys with different values (the query value " +
                             qv[a] + " of " + side_name(s.query_parts) + " selects the key values " + kv[hits[0]] +
                             " and " + kv[hits[1]] + " of " + side_name(s.key_parts) +
                             "); a categorical aggregate must select at most one key per query: use "
                             "numerical(aggregate(...)) for a mean, or a selector that matches one key");
            }
        }
    }

    // An aggregate whose selection may be empty and whose default is not none (nor 0 for a
    // numerical one): its head reads the default from BOS.
    bool carries_default(int n) const {
        const Node& nd = node(n);
        if (nd.default_value.is_none() || m_info.selector(nd.selector).always_selects) return false;
        return nd.encoding == Encoding::categorical || nd.default_value.to_double() != 0.0;
    }

    // --- affine fits ---

    static bool close(double a, double b) { return std::fabs(a - b) <= 1e-9 * (1.0 + std::fabs(a) + std::fabs(b)); }

    // f(x) = a x + c over the input values of a numerical map.
    bool fit_affine1(const Node& nd, double& a, double& c) const {
        const auto& xs = info(nd.inputs[0]).values;
        std::vector<std::pair<double, double>> pts;
        for (const auto& x : xs) {
            Value y;
            try {
                y = nd.fn(x);
            } catch (const ValueError&) {
                return false;
            }
            if (!y.is_number()) return false;
            pts.emplace_back(x.to_double(), y.to_double());
        }
        if (pts.empty()) return false;
        a = pts.size() > 1 ? (pts.back().second - pts.front().second) / (pts.back().first - pts.front().first) : 0.0;
        c = pts.front().second - a * pts.front().first;
        for (const auto& [x, y] : pts)
            if (!close(a * x + c, y)) return false;
        return true;
    }

    // f(x, y) = a x + b y + c over the product of the input values of a numerical sequence_map.
    bool fit_affine2(const Node& nd, double& a, double& b, double& c) const {
        const auto& xs = info(nd.inputs[0]).values;
        const auto& ys = info(nd.inputs[1]).values;
        if (xs.empty() || ys.empty()) return false;
        const auto f = [&](const Value& x, const Value& y, double& out) {
            try {
                const Value r = nd.fn(x, y);
                if (!r.is_number()) return false;
                out = r.to_double();
                return true;
            } catch (const ValueError&) {
                return false;
            }
        };
        double f00 = 0, fx = 0, fy = 0;
        if (!f(xs.front(), ys.front(), f00) || !f(xs.back(), ys.front(), fx) || !f(xs.front(), ys.back(), fy))
            return false;
        const double x0 = xs.front().to_double(), x1 = xs.back().to_double();
        const double y0 = ys.front().to_double(), y1 = ys.back().to_double();
        a = xs.size() > 1 ? (fx - f00) / (x1 - x0) : 0.0;
        b = ys.size() > 1 ? (fy - f00) / (y1 - y0) : 0.0;
        c = f00 - a * x0 - b * y0;
        for (const auto& x : xs)
            for (const auto& y : ys) {
                double r = 0;
                if (!f(x, y, r) || !close(a * x.to_double() + b * y.to_double() + c, r)) return false;
            }
        return true;
    }

    // --- residual stream ---

    int add_label(const std::string& label) {
        m_labels.push_back(label);
        return static_cast<int>(m_labels.size()) - 1;
    }

    void layout() {
        m_base.assign(m_prog.nodes.size(), -1);
        m_scratch.assign(m_prog.nodes.size(), -1);
        m_one = add_label("one");
        m_bos = add_label(std::string("tokens:") + kBos);
        for (int n : m_live) {
            const Node& nd = node(n);
            if (nd.kind == NodeKind::selector_width)
                m_scratch[static_cast<size_t>(n)] = add_label(nd.name + ".bos_attn");
            if (nd.encoding == Encoding::numerical) {
                m_base[static_cast<size_t>(n)] = add_label(nd.name);
                continue;
            }
            m_base[static_cast<size_t>(n)] = static_cast<int>(m_labels.size());
            for (const auto& v : info(n).values) add_label(nd.name + ":" + v.to_string());
        }
        for (int n : m_live)
            if (node(n).selector >= 0) {
                const SelectorInfo& s = m_info.selector(node(n).selector);
                mark_used(s.key_parts, s, true);
                mark_used(s.query_parts, s, false);
            }
        for (auto& [parts, used] : m_joint_used) add_joint(parts, used);
    }

    // The tuples of a joint side that its head compares: columns (keys) or rows (queries) of the
    // matrix with a selected entry. The others need no residual direction.
    void mark_used(const std::vector<int>& parts, const SelectorInfo& s, bool keys) {
        if (parts.size() < 2) return;
        auto& used = m_joint_used[parts];
        used.labels = keys ? s.key_labels : s.query_labels;
        used.used.resize(used.labels.size(), 0);
        for (size_t a = 0; a < s.matrix.size(); ++a)
            for (size_t b = 0; b < s.matrix[a].size(); ++b)
                if (s.matrix[a][b]) used.used[keys ? b : a] = 1;
    }

    // The tuples of a joint side (labels) and whether a head compares each.
    struct JointUse {
        std::vector<std::string> labels;
        std::vector<char> used;
    };
    std::map<std::vector<int>, JointUse> m_joint_used;

    // A joint s-op: one residual row per compared tuple of its parts' values, written by an MLP
    // unit relu(sum of the tuple's one-hot rows - (parts - 1)), which is 1 exactly when every part
    // holds its value of the tuple (and 0 at BOS, where no part has a value).
    void add_joint(const std::vector<int>& parts, const JointUse& use) {
        Joint j;
        j.parts = parts;
        const std::string name = joint_name(parts);
        for (size_t t = 0; t < use.labels.size(); ++t)
            j.row_of.push_back(use.used[t] ? add_label(name + ":" + use.labels[t]) : -1);
        m_joint_of[parts] = static_cast<int>(m_joints.size());
        m_joints.push_back(std::move(j));
    }

    void build_joint(size_t j) {
        const Joint& jt = m_joints[j];
        MlpBlock mlp;
        mlp.joint = static_cast<int>(j);
        std::vector<size_t> sizes;
        size_t count = 1;
        for (int p : jt.parts) {
            sizes.push_back(info(p).values.size());
            count *= sizes.back();
        }
        for (size_t t = 0; t < count; ++t) {
            if (jt.row_of[t] < 0) continue;
            Unit u;
            size_t rest = t;
            for (size_t k = jt.parts.size(); k-- > 0;) {
                u.in[row(jt.parts[k]) + static_cast<int>(rest % sizes[k])] = 1.0;
                rest /= sizes[k];
            }
            u.bias = -static_cast<double>(jt.parts.size() - 1);
            u.out[jt.row_of[t]] = 1.0;
            mlp.units.push_back(std::move(u));
        }
        m_mlps.push_back(std::move(mlp));
    }

    // The residual row of the key (query) value or tuple `b` of a selector side reading `parts`.
    int side_row(const std::vector<int>& parts, size_t b) const {
        if (parts.size() == 1) return row(parts[0]) + static_cast<int>(b);
        return m_joints[static_cast<size_t>(m_joint_of.at(parts))].row_of[b];
    }

    // The residual row of value `v` of categorical node n (-1 if v is not in its value set).
    int row(int n, const Value& v) const {
        const auto& vals = info(n).values;
        const auto it = std::lower_bound(vals.begin(), vals.end(), v, value_less);
        if (it == vals.end() || !(*it == v)) return -1;
        return m_base[static_cast<size_t>(n)] + static_cast<int>(it - vals.begin());
    }
    int row(int n) const { return m_base[static_cast<size_t>(n)]; }

    // The output of node n for value v: a one-hot row (categorical) or the number (numerical).
    Sparse encode(int n, const Value& v) const {
        Sparse s;
        if (v.is_none()) return s;
        if (node(n).encoding == Encoding::numerical) {
            if (v.to_double() != 0.0) s[row(n)] = v.to_double();
        } else {
            s[row(n, v)] = 1.0;
        }
        return s;
    }

    // --- blocks ---

    void build(int n) {
        const Node& nd = node(n);
        switch (nd.kind) {
            case NodeKind::tokens:
            case NodeKind::indices:
                return;
            case NodeKind::map:
                return map(n);
            case NodeKind::sequence_map:
                return sequence_map(n);
            case NodeKind::aggregate: {
                HeadBlock h = selector_head(n, nd.selector, 0.5);
                const int value = nd.inputs[0];
                if (nd.encoding == Encoding::numerical) {
                    h.o.push_back({0, row(n), 1.0});
                    if (carries_default(n)) h.v.push_back({m_bos, 0, nd.default_value.to_double()});
                    if (node(value).encoding == Encoding::numerical) {
                        h.v.push_back({row(value), 0, 1.0});
                    } else {
                        for (const auto& x : info(value).values)
                            if (x.to_double() != 0.0) h.v.push_back({row(value, x), 0, x.to_double()});
                    }
                    h.dims = std::max(h.dims, 1);
                } else {
                    int d = 0;
                    for (const auto& x : info(value).values) {
                        h.v.push_back({row(value, x), d, 1.0});
                        h.o.push_back({d, row(n, x), 1.0});
                        ++d;
                    }
                    // A query that selects nothing attends to BOS, which carries the default.
                    if (carries_default(n)) {
                        h.v.push_back({m_bos, d, 1.0});
                        h.o.push_back({d, row(n, nd.default_value), 1.0});
                        ++d;
                    }
                    h.dims = std::max(h.dims, d);
                }
                m_heads.push_back(std::move(h));
                if (needs_cleanup(n)) cleanup(n);
                return;
            }
            case NodeKind::selector_width: {
                HeadBlock h = selector_head(n, nd.selector, 1.0);
                h.v.push_back({m_bos, 0, 1.0});
                h.o.push_back({0, m_scratch[static_cast<size_t>(n)], 1.0});
                h.dims = std::max(h.dims, 1);
                m_heads.push_back(std::move(h));
                // The head writes 1/(w+1), the attention on BOS; the MLP decodes w.
                std::vector<double> xs;
                std::vector<Sparse> F;
                for (int w = m_prog.max_len; w >= 0; --w) {
                    xs.push_back(1.0 / (w + 1));
                    F.push_back(encode(n, Value::integer(w)));
                }
                MlpBlock mlp;
                mlp.node = n;
                discretise(mlp, m_scratch[static_cast<size_t>(n)], xs, F, n);
                m_mlps.push_back(std::move(mlp));
                return;
            }
        }
    }

    // QK of the head of a selector: logit 1 (times the temperature) where the predicate holds,
    // `bos_logit` from query `one` to key BOS, 0 elsewhere. The predicate matrix is factored
    // through its distinct non-zero key columns or query rows, whichever are fewer.
    HeadBlock selector_head(int n, int selector, double bos_logit) const {
        const SelectorInfo& s = m_info.selector(selector);
        const auto& kv = s.key_labels;
        const auto& qv = s.query_labels;
        const auto key_row = [&](size_t b) { return side_row(s.key_parts, b); };
        const auto query_row = [&](size_t a) { return side_row(s.query_parts, a); };
        HeadBlock h;
        h.node = n;
        std::vector<std::vector<char>> cols(kv.size(), std::vector<char>(qv.size()));
        for (size_t a = 0; a < qv.size(); ++a)
            for (size_t b = 0; b < kv.size(); ++b) cols[b][a] = s.matrix[a][b];
        const auto groups = [](const std::vector<std::vector<char>>& lines) {
            std::vector<std::vector<size_t>> g;  // indices of equal non-zero lines
            std::vector<const std::vector<char>*> reps;
            for (size_t i = 0; i < lines.size(); ++i) {
                if (std::find(lines[i].begin(), lines[i].end(), 1) == lines[i].end()) continue;
                size_t k = 0;
                while (k < reps.size() && *reps[k] != lines[i]) ++k;
                if (k == reps.size()) {
                    reps.push_back(&lines[i]);
                    g.emplace_back();
                }
                g[k].push_back(i);
            }
            return g;
        };
        const auto key_groups = groups(cols);
        const auto query_groups = groups(s.matrix);
        int d = 0;
        if (key_groups.size() <= query_groups.size()) {
            for (const auto& g : key_groups) {
                for (size_t b : g) h.k.push_back({key_row(b), d, 1.0});
                for (size_t a = 0; a < qv.size(); ++a)
                    if (s.matrix[a][g[0]]) h.q.push_back({query_row(a), d, 1.0});
                ++d;
            }
        } else {
            for (const auto& g : query_groups) {
                for (size_t a : g) h.q.push_back({query_row(a), d, 1.0});
                for (size_t b = 0; b < kv.size(); ++b)
                    if (s.matrix[g[0]][b]) h.k.push_back({key_row(b), d, 1.0});
                ++d;
            }
        }
        h.q.push_back({m_one, d, bos_logit});
        h.k.push_back({m_bos, d, 1.0});
        h.dims = d + 1;
        return h;
    }

    void map(int n) {
        const Node& nd = node(n);
        const int x = nd.inputs[0];
        MlpBlock mlp;
        mlp.node = n;
        const auto& xs = info(x).values;
        if (node(x).encoding == Encoding::numerical) {
            double a = 0, c = 0;
            if (nd.encoding == Encoding::numerical && fit_affine1(nd, a, c)) {
                linear(mlp, {{row(x), a}}, c, n);
            } else {
                std::vector<double> pts;
                std::vector<Sparse> F;
                for (const auto& v : xs) {
                    pts.push_back(v.to_double());
                    Value r;
                    try {
                        r = nd.fn(v);
                    } catch (const ValueError&) {
                    }
                    F.push_back(encode(n, r));
                }
                discretise(mlp, row(x), pts, F, n);
            }
        } else {
            // A lookup table: one hidden unit per output, reading every input value that maps to it.
            std::vector<std::pair<Sparse, Sparse>> by_output;  // (out, in)
            for (const auto& v : xs) {
                Value r;
                try {
                    r = nd.fn(v);
                } catch (const ValueError&) {
                    continue;
                }
                const Sparse out = encode(n, r);
                if (out.empty()) continue;
                auto it =
                    std::find_if(by_output.begin(), by_output.end(), [&](const auto& p) { return p.first == out; });
                if (it == by_output.end()) {
                    by_output.emplace_back(out, Sparse{});
                    it = by_output.end() - 1;
                }
                it->second[row(x, v)] = 1.0;
            }
            for (auto& [out, in] : by_output) mlp.units.push_back(Unit{in, 0.0, out});
        }
        m_mlps.push_back(std::move(mlp));
    }

    // A sequence_map of three or more categorical s-ops: one hidden unit per tuple of all inputs
    // but the last and output value, relu(sum of those one-hot rows + the rows of every last
    // input value giving that output - (inputs - 1)), which is 1 exactly when the tuple matches.
    void sequence_map_n(int n) {
        const Node& nd = node(n);
        const size_t k = nd.inputs.size();
        std::map<std::pair<std::vector<int>, Sparse>, Sparse> units;  // (leading rows, out) -> last rows
        std::vector<size_t> at(k, 0);
        std::vector<Value> args(k);
        bool any = true;
        for (int in : nd.inputs) any = any && !info(in).values.empty();
        while (any) {
            std::vector<int> lead;
            for (size_t i = 0; i < k; ++i) {
                args[i] = info(nd.inputs[i]).values[at[i]];
                if (i + 1 < k) lead.push_back(row(nd.inputs[i], args[i]));
            }
            Value r;
            try {
                r = nd.fn(args);
            } catch (const ValueError&) {
            }
            const Sparse out = encode(n, r);
            if (!out.empty()) units[{lead, out}][row(nd.inputs[k - 1], args[k - 1])] = 1.0;
            size_t i = k;
            while (i-- > 0 && ++at[i] == info(nd.inputs[i]).values.size()) at[i] = 0;
            if (i == static_cast<size_t>(-1)) break;
        }
        MlpBlock mlp;
        mlp.node = n;
        for (const auto& [key, last] : units) {
            Unit u;
            u.in = last;
            for (int r : key.first) u.in[r] = 1.0;
            u.bias = -static_cast<double>(k - 1);
            u.out = key.second;
            mlp.units.push_back(std::move(u));
        }
        m_mlps.push_back(std::move(mlp));
    }

    void sequence_map(int n) {
        const Node& nd = node(n);
        if (nd.inputs.size() > 2) return sequence_map_n(n);
        const int x = nd.inputs[0], y = nd.inputs[1];
        MlpBlock mlp;
        mlp.node = n;
        if (node(x).encoding == Encoding::numerical) {
            double a = 0, b = 0, c = 0;
            fit_affine2(nd, a, b, c);  // checked in check()
            linear(mlp, {{row(x), a}, {row(y), b}}, c, n);
            m_mlps.push_back(std::move(mlp));
            return;
        }
        const auto& xs = info(x).values;
        const auto& ys = info(y).values;
        std::vector<std::vector<Sparse>> out(xs.size(), std::vector<Sparse>(ys.size()));
        for (size_t i = 0; i < xs.size(); ++i)
            for (size_t j = 0; j < ys.size(); ++j) {
                Value r;
                try {
                    r = nd.fn(xs[i], ys[j]);
                } catch (const ValueError&) {
                }
                out[i][j] = encode(n, r);
            }
        // One hidden unit per (value of one input, output): relu(x_a + sum of y_b giving that output - 1).
        const auto units = [&](bool by_x) {
            std::vector<Unit> u;
            const size_t outer = by_x ? xs.size() : ys.size(), inner = by_x ? ys.size() : xs.size();
            for (size_t i = 0; i < outer; ++i) {
                std::vector<Unit> mine;
                for (size_t j = 0; j < inner; ++j) {
                    const Sparse& o = by_x ? out[i][j] : out[j][i];
                    if (o.empty()) continue;
                    auto it = std::find_if(mine.begin(), mine.end(), [&](const Unit& m) { return m.out == o; });
                    if (it == mine.end()) {
                        Unit unit;
                        unit.out = o;
                        unit.bias = -1.0;
                        unit.in[by_x ? row(x, xs[i]) : row(y, ys[i])] = 1.0;
                        mine.push_back(unit);
                        it = mine.end() - 1;
                    }
                    it->in[by_x ? row(y, ys[j]) : row(x, xs[j])] = 1.0;
                }
                u.insert(u.end(), mine.begin(), mine.end());
            }
            return u;
        };
        auto ux = units(true), uy = units(false);
        mlp.units = ux.size() <= uy.size() ? std::move(ux) : std::move(uy);
        m_mlps.push_back(std::move(mlp));
    }

    // out = sum of w * x over `terms` + c, exactly: relu(x) - relu(-x) = x, and the constant from
    // `one` gated off at BOS (relu(one - 2 BOS)).
    void linear(MlpBlock& mlp, const std::vector<std::pair<int, double>>& terms, double c, int n) const {
        for (const auto& [r, w] : terms) {
            if (w == 0.0) continue;
            mlp.units.push_back(Unit{{{r, 1.0}}, 0.0, {{row(n), w}}});
            mlp.units.push_back(Unit{{{r, -1.0}}, 0.0, {{row(n), -w}}});
        }
        if (c != 0.0) mlp.units.push_back(Unit{{{m_one, 1.0}, {m_bos, -2.0}}, 0.0, {{row(n), c}}});
    }

    // A piecewise-constant MLP: out(x) = F[k] for x near xs[k] (xs ascending). Steps sit halfway
    // between neighbours whose outputs differ and rise over half the gap; the output is anchored
    // at the point with the smallest output, so that output is exact (steps on either side are
    // exactly 0 there). Every unit is switched off at BOS.
    void discretise(MlpBlock& mlp, int x, const std::vector<double>& xs, const std::vector<Sparse>& F, int n) const {
        if (xs.empty()) return;
        size_t anchor = 0;
        double best = -1;
        for (size_t k = 0; k < F.size(); ++k) {
            double l1 = 0;
            for (const auto& [r, w] : F[k]) l1 += std::fabs(w);
            if (best < 0 || l1 < best) {
                best = l1;
                anchor = k;
            }
        }
        if (!F[anchor].empty()) mlp.units.push_back(Unit{{{m_one, 1.0}, {m_bos, -2.0}}, 0.0, F[anchor]});
        for (size_t i = 0; i + 1 < xs.size(); ++i) {
            if (F[i] == F[i + 1]) continue;
            const double gap = xs[i + 1] - xs[i];
            if (gap < kMinGap * std::max(1.0, std::fabs(xs[i])))
                fail(node(n).origin, "the values " + format_double(xs[i]) + " and " + format_double(xs[i + 1]) +
                                         " of the numerical input are too close for the compiled MLP of " + quoted(n) +
                                         " to tell apart");
            const double t = 0.5 * (xs[i] + xs[i + 1]);
            const double L = 2.0 / gap;                       // 0 -> 1 over [t - gap/4, t + gap/4]
            const double M = L * (1.0 + std::fabs(t)) + 1.5;  // at BOS the input is within [-1, 1]
            const bool up = i >= anchor;
            Sparse diff;  // up: F[i+1] - F[i]; down: F[i] - F[i+1]
            for (const auto& [r, w] : F[i + 1]) diff[r] += up ? w : -w;
            for (const auto& [r, w] : F[i]) diff[r] += up ? -w : w;
            Sparse neg;
            for (const auto& [r, w] : diff) neg[r] = -w;
            const double s = up ? L : -L;
            mlp.units.push_back(Unit{{{x, s}, {m_bos, -M}}, -s * t + 0.5, diff});
            mlp.units.push_back(Unit{{{x, s}, {m_bos, -M}}, -s * t - 0.5, neg});
        }
    }

    // Zeroes a categorical aggregate's mixtures (several different selected values) so that
    // later s-ops see none, as the evaluator does: x_v -> step(x_v) around 1 - 1/(2 max_len).
    void cleanup(int n) {
        MlpBlock mlp;
        mlp.node = n;
        const double len = m_prog.max_len;
        const double L = 2.0 * len, t = 1.0 - 1.0 / (2.0 * len);
        for (const auto& v : info(n).values) {
            const int r = row(n, v);
            mlp.units.push_back(Unit{{{r, L}}, -L * t + 0.5, {{r, 1.0}}});
            mlp.units.push_back(Unit{{{r, L}}, -L * t - 0.5, {{r, -1.0}}});
            mlp.units.push_back(Unit{{{r, 1.0}}, 0.0, {{r, -1.0}}});
        }
        m_mlps.push_back(std::move(mlp));
    }

    // --- layers ---

    // The sub-layer after which a selector side is in the residual stream: its s-op's, or for a
    // joint s-op the MLP sub-layer after its parts (placed there on first use).
    int side_ready(const std::vector<int>& parts, const std::vector<int>& ready) {
        int r = -1;
        for (int p : parts) r = std::max(r, ready[static_cast<size_t>(p)]);
        if (parts.size() == 1) return r;
        const int j = m_joint_of.at(parts);
        for (size_t m = 0; m < m_mlps.size(); ++m)
            if (m_mlps[m].joint == j) {
                if (m_mlp_sub[m] < 0) m_mlp_sub[m] = next_sub(r, 1);
                return m_mlp_sub[m];
            }
        return r;
    }

    static int next_sub(int after, int parity) {
        int s = after + 1;
        if ((s & 1) != parity) ++s;
        return s;
    }

    void allocate() {
        std::vector<int> ready(m_prog.nodes.size(), -1);
        const auto next = next_sub;
        m_head_sub.assign(m_heads.size(), -1);
        m_mlp_sub.assign(m_mlps.size(), -1);
        for (int n : m_live) {
            const Node& nd = node(n);
            int start = -1;
            for (int in : nd.inputs) start = std::max(start, ready[static_cast<size_t>(in)]);
            if (nd.selector >= 0) {
                const SelectorInfo& s = m_info.selector(nd.selector);
                start = std::max({start, side_ready(s.key_parts, ready), side_ready(s.query_parts, ready)});
            }
            int r = start;
            for (size_t h = 0; h < m_heads.size(); ++h)
                if (m_heads[h].node == n) r = m_head_sub[h] = next(start, 0);
            for (size_t m = 0; m < m_mlps.size(); ++m)
                if (m_mlps[m].node == n) r = m_mlp_sub[m] = next(r, 1);
            ready[static_cast<size_t>(n)] = r;
        }
        m_ready = ready;
    }

    // Which compiled heads and MLPs sit in each layer: sublayer 2l is layer l's attention, 2l + 1 its MLP.
    struct LayerPlan {
        std::vector<std::vector<size_t>> heads, mlps;  // [n_layers] -> indices into m_heads / m_mlps
        int n_layers() const { return static_cast<int>(heads.size()); }
    };

    LayerPlan plan_layers() const {
        int max_sub = -1;
        for (int s : m_head_sub) max_sub = std::max(max_sub, s);
        for (int s : m_mlp_sub) max_sub = std::max(max_sub, s);
        const int n_layers = max_sub < 0 ? 0 : max_sub / 2 + 1;
        LayerPlan plan{std::vector<std::vector<size_t>>(static_cast<size_t>(n_layers)),
                       std::vector<std::vector<size_t>>(static_cast<size_t>(n_layers))};
        for (size_t h = 0; h < m_heads.size(); ++h) plan.heads[static_cast<size_t>(m_head_sub[h] / 2)].push_back(h);
        for (size_t m = 0; m < m_mlps.size(); ++m) plan.mlps[static_cast<size_t>(m_mlp_sub[m] / 2)].push_back(m);
        return plan;
    }

    // The widest layer sets n_heads and d_mlp; refuses a model over the parameter limit.
    ModelConfig compiled_config(const LayerPlan& plan) const {
        const Node& out = m_prog.output_node();
        ModelConfig c;
        c.n_layers = plan.n_layers();
        c.n_heads = 1;
        c.d_head = 1;
        c.d_mlp = 0;
        for (const auto& l : plan.heads) c.n_heads = std::max(c.n_heads, static_cast<int>(l.size()));
        for (const auto& h : m_heads) c.d_head = std::max(c.d_head, h.dims);
        for (const auto& l : plan.mlps) {
            int units = 0;
            for (size_t m : l) units += static_cast<int>(m_mlps[m].units.size());
            c.d_mlp = std::max(c.d_mlp, units);
        }
        c.d_model = static_cast<int>(m_labels.size());
        c.d_vocab = static_cast<int>(m_prog.vocab.size()) + 1;
        c.d_vocab_out = out.encoding == Encoding::numerical ? 1 : static_cast<int>(info(m_prog.output).values.size());
        if (c.d_vocab_out == 0) fail(out.origin, "the output " + quoted(m_prog.output) + " has no possible value");
        c.n_ctx = m_prog.max_len + 1;
        c.positional_embedding_type = PositionalEmbedding::standard;
        c.normalization_type = Normalization::none;
        c.attn_scale = 0.0;  // the forward pass divides by sqrt(d_head); W_Q multiplies it back
        c.causal = m_prog.causal;
        c.act_fn = ActFn::relu;
        c.origin = circuits::Origin::compiled;
        c.bos_token = 0;
        const double parameters =
            static_cast<double>(c.n_layers) * (4.0 * c.n_heads * c.d_model * c.d_head + 2.0 * c.d_model * c.d_mlp) +
            static_cast<double>(c.d_model) * (c.d_vocab + c.n_ctx + c.d_vocab_out);
        if (parameters > kMaxParameters)
            throw Error(m_prog.filename + ": the compiled model would have " + format_double(parameters) +
                        " parameters (d_model " + std::to_string(c.d_model) + ", d_mlp " + std::to_string(c.d_mlp) +
                        ", d_head " + std::to_string(c.d_head) + "), more than the compiler's limit of " +
                        format_double(kMaxParameters));
        return c;
    }

    // Embeddings: `one` everywhere, the token's direction, RASP index p - 1 at position p.
    void write_embeddings(Model& m) const {
        m.vocab = {kBos};
        m.W_E(0, m_one) = 1.0f;
        m.W_E(0, m_bos) = 1.0f;
        for (size_t t = 0; t < m_prog.vocab.size(); ++t) {
            m.vocab.push_back(m_prog.vocab[t].to_string());
            m.W_E(static_cast<Eigen::Index>(t + 1), m_one) = 1.0f;
            m.W_E(static_cast<Eigen::Index>(t + 1), row(kTokensNode, m_prog.vocab[t])) = 1.0f;
        }
        // The BOS position attends to itself in every head, so a head whose default BOS carries
        // writes that default there too; the embedding cancels it, leaving BOS without values.
        for (int n : m_live) {
            const Node& nd = node(n);
            if (nd.kind != NodeKind::aggregate || !carries_default(n)) continue;
            if (nd.encoding == Encoding::numerical)
                m.W_E(0, row(n)) -= static_cast<float>(nd.default_value.to_double());
            else
                m.W_E(0, row(n, nd.default_value)) -= 1.0f;
        }
        if (m_base[kIndicesNode] >= 0)
            for (int p = 1; p <= m_prog.max_len; ++p) m.W_pos(p, row(kIndicesNode, Value::integer(p - 1))) = 1.0f;
    }

    void write_layers(Model& m, const LayerPlan& plan) const {
        const double q_scale = softmax_temperature(m_prog.max_len) * std::sqrt(static_cast<double>(m.cfg.d_head));
        for (int l = 0; l < plan.n_layers(); ++l) {
            Block& b = m.blocks[static_cast<size_t>(l)];
            const auto& hl = plan.heads[static_cast<size_t>(l)];
            for (size_t i = 0; i < hl.size(); ++i) {
                const HeadBlock& h = m_heads[hl[i]];
                for (const auto& e : h.q) b.attn.W_Q[i](e.row, e.col) += static_cast<float>(e.value * q_scale);
                for (const auto& e : h.k) b.attn.W_K[i](e.row, e.col) += static_cast<float>(e.value);
                for (const auto& e : h.v) b.attn.W_V[i](e.row, e.col) += static_cast<float>(e.value);
                for (const auto& e : h.o) b.attn.W_O[i](e.row, e.col) += static_cast<float>(e.value);
            }
            int u = 0;
            for (size_t mi : plan.mlps[static_cast<size_t>(l)])
                for (const Unit& unit : m_mlps[mi].units) {
                    for (const auto& [r, w] : unit.in) b.mlp.W_in(r, u) += static_cast<float>(w);
                    b.mlp.b_in(u) = static_cast<float>(unit.bias);
                    for (const auto& [r, w] : unit.out) b.mlp.W_out(u, r) += static_cast<float>(w);
                    ++u;
                }
        }
    }

    void write_unembedding(Model& m) const {
        const Node& out = m_prog.output_node();
        if (out.encoding == Encoding::numerical) {
            m.vocab_out = {out.name};
            m.W_U(row(m_prog.output), 0) = 1.0f;
            return;
        }
        // logit = x_v - (1 - 1/(2 max_len)): > 0 for a value that is there (x_v ~ 1), < 0 for
        // none (x = 0) and for a mixture of different values (x_v <= 1 - 1/max_len).
        m.vocab_out.clear();
        const auto& vals = info(m_prog.output).values;
        for (size_t i = 0; i < vals.size(); ++i) {
            m.vocab_out.push_back(vals[i].to_string());
            m.W_U(row(m_prog.output, vals[i]), static_cast<Eigen::Index>(i)) = 1.0f;
        }
        m.b_U.setConstant(static_cast<float>(-(1.0 - 1.0 / (2.0 * m_prog.max_len))));
    }

    Model assemble() const {
        const LayerPlan plan = plan_layers();
        Model m = Model::zeros(compiled_config(plan));
        write_embeddings(m);
        write_layers(m, plan);
        write_unembedding(m);
        const Node& out = m_prog.output_node();
        m.residual_labels = m_labels;
        m.program_source = m_prog.source;
        m.output_sop = out.name;
        m.output_encoding =
            out.encoding == Encoding::numerical ? OutputEncoding::numerical : OutputEncoding::categorical;
        m.validate();
        return m;
    }
};

// The placed graph: joint s-ops first where they are used, then each live node reading its
// inputs and its selector's sides. The longest path counts sub-layers on the graph alone: a map
// needs an MLP after its inputs, an aggregate an attention sub-layer (and a cleanup MLP), a
// selector_width both, a joint s-op an MLP; its layers are the sub-layers rounded up to pairs.
CompiledGraph Compiler::graph() const {
    CompiledGraph g;
    std::vector<int> index(m_prog.nodes.size(), -1);
    std::map<std::vector<int>, int> joint_index;
    const auto side = [&](const std::vector<int>& parts, PlacedSop& user) {
        if (parts.size() == 1) {
            const int in = index[static_cast<size_t>(parts[0])];
            if (std::find(user.inputs.begin(), user.inputs.end(), in) == user.inputs.end()) user.inputs.push_back(in);
            return;
        }
        auto it = joint_index.find(parts);
        if (it == joint_index.end()) {
            PlacedSop j;
            j.name = joint_name(parts);
            j.kind = "joint";
            for (int p : parts) j.inputs.push_back(index[static_cast<size_t>(p)]);
            const int ji = m_joint_of.at(parts);
            for (size_t m = 0; m < m_mlps.size(); ++m)
                if (m_mlps[m].joint == ji) j.first_sublayer = j.last_sublayer = m_mlp_sub[m];
            g.sops.push_back(j);
            it = joint_index.emplace(parts, static_cast<int>(g.sops.size()) - 1).first;
        }
        if (std::find(user.inputs.begin(), user.inputs.end(), it->second) == user.inputs.end())
            user.inputs.push_back(it->second);
    };
    const LayerPlan plan = plan_layers();
    for (int n : m_live) {
        const Node& nd = node(n);
        PlacedSop p;
        p.node = n;
        p.name = nd.name;
        p.kind = to_string(nd.kind);
        for (int in : nd.inputs) p.inputs.push_back(index[static_cast<size_t>(in)]);
        if (nd.selector >= 0) {
            const SelectorInfo& s = m_info.selector(nd.selector);
            side(s.key_parts, p);
            side(s.query_parts, p);
            p.selector = selector_text(nd.selector);
        }
        p.last_sublayer = m_ready[static_cast<size_t>(n)];
        p.first_sublayer = p.last_sublayer;
        for (size_t h = 0; h < m_heads.size(); ++h)
            if (m_heads[h].node == n) {
                p.first_sublayer = m_head_sub[h];
                const auto& in_layer = plan.heads[static_cast<size_t>(m_head_sub[h] / 2)];
                p.head = static_cast<int>(std::find(in_layer.begin(), in_layer.end(), h) - in_layer.begin());
            }
        for (size_t m = 0; m < m_mlps.size(); ++m)
            if (m_mlps[m].node == n) p.first_sublayer = std::min(p.first_sublayer, m_mlp_sub[m]);
        g.sops.push_back(p);
        index[static_cast<size_t>(n)] = static_cast<int>(g.sops.size()) - 1;
    }
    g.n_layers = plan.n_layers();
    // Longest path: the sub-layer each s-op needs at the earliest, from the graph alone.
    std::vector<int> need(g.sops.size(), -1);
    int last = -1;
    for (size_t i = 0; i < g.sops.size(); ++i) {
        const PlacedSop& p = g.sops[i];
        int after = -1;
        for (int in : p.inputs) after = std::max(after, need[static_cast<size_t>(in)]);
        int r = after;
        if (p.kind == "aggregate" || p.kind == "selector_width") r = next_sub(after, 0);
        const bool mlp = p.kind == "map" || p.kind == "sequence_map" || p.kind == "joint" ||
                         p.kind == "selector_width" || (p.kind == "aggregate" && p.node >= 0 && needs_cleanup(p.node));
        if (mlp) r = next_sub(r, 1);
        need[i] = r;
        last = std::max(last, r);
    }
    g.longest_path_layers = last < 0 ? 0 : last / 2 + 1;
    return g;
}

}  // namespace

Model compile(const Program& program, const CompileOptions& options) {
    return Compiler(program, options).run();
}

Model compile(const Program& program, const CompileOptions& options, CompiledGraph& graph) {
    Compiler c(program, options);
    Model m = c.run();
    graph = c.graph();
    return m;
}

}  // namespace circuits::rasp
