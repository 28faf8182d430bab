// A RASP program as a graph of s-ops and selectors: names resolved, `def`s expanded, operator sugar
// turned into map / sequence_map, constants folded.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lib/rasp/ast.hpp"
#include "lib/rasp/function.hpp"
#include "lib/rasp/value.hpp"

namespace circuits::rasp {

enum class Encoding { categorical, numerical };
std::string to_string(Encoding e);

// Where a node was written: its expression's line and column, and the `def` calls that expanded it.
struct Origin {
    int line = 0;
    int col = 0;
    std::string context;  // e.g. " (in 'shift' called at line 9)"
};

enum class NodeKind { tokens, indices, map, sequence_map, aggregate, selector_width };
std::string to_string(NodeKind k);

// One s-op. Nodes are stored in topological order: inputs before users.
struct Node {
    NodeKind kind = NodeKind::tokens;
    std::string name;    // the bound name, or a generated "kind@line" for anonymous s-ops
    bool named = false;  // bound by `NAME = ...` in the source
    Encoding encoding = Encoding::categorical;
    Origin origin;
    std::vector<int> inputs;  // map: [x]; sequence_map: [x, y]; aggregate: [value]
    int selector = -1;        // aggregate and selector_width: index into Program::selectors
    Function fn;              // map: x -> ...; sequence_map: (x, y) -> ...
    Value default_value;      // aggregate: where nothing is selected (none unless given)
    // For an anonymous s-op made by a `def` call: "f@9" (the call's result) or "f@9/map" (made
    // inside it); the base of its generated name.
    std::string scope;
};

enum class SelectorKind { select, conjunction, disjunction, negation };

// One selector: select(keys, queries, predicate) or `and` / `or` / `not` of selectors.
struct SelectorNode {
    SelectorKind kind = SelectorKind::select;
    Origin origin;
    int keys = -1;              // select: node index
    int queries = -1;           // select: node index
    Function predicate;         // select: (k, q) -> bool, applied as predicate(key, query)
    std::vector<int> operands;  // and / or: two selector indices; not: one
};

struct Program {
    std::string filename;
    std::string source;
    std::vector<Value> vocab;  // empty when the program has no `vocab` line and none was given
    int max_len = 0;           // 0 when unset
    bool causal = false;
    std::vector<Node> nodes;  // nodes[0] = tokens, nodes[1] = indices
    std::vector<SelectorNode> selectors;
    int output = -1;  // node index
    int output_line = 0;

    const Node& node(int i) const { return nodes[static_cast<size_t>(i)]; }
    const SelectorNode& selector(int i) const { return selectors[static_cast<size_t>(i)]; }
    const Node& output_node() const { return node(output); }
    // "FILE:LINE:COL: " for messages about a node or selector.
    std::string where(const Origin& o) const;
    // Nodes the output depends on (through inputs and selectors), in topological order.
    std::vector<int> live_nodes() const;
};

inline constexpr int kTokensNode = 0;
inline constexpr int kIndicesNode = 1;

// Resolves names, expands `def`s, folds constants and builds the graph; then fuses each anonymous
// categorical map or sequence_map into its single user when that user is a map or sequence_map
// (f(g(x)) becomes one node, as Tracr does for maps of maps). Throws Error "FILE:LINE:COL: ..."
// for an unknown name, a wrong argument, a type error (s-op where a constant is needed, ...), a
// missing `output`, or an output that does not use `tokens`.
Program elaborate(const Ast& ast);

// parse + elaborate.
Program parse_program(const std::string& source, const std::string& filename);
// Reads and parses a .rasp file; errors name the file.
Program load_program(const std::string& path);

// Command-line options that override the program's directives.
struct ProgramOverrides {
    std::optional<std::vector<Value>> vocab;
    std::optional<int> max_len;
    bool causal = false;  // true: compile / evaluate with a causal mask
};
void apply_overrides(Program& program, const ProgramOverrides& overrides);

}  // namespace circuits::rasp
