// Static facts about a program's s-ops for the compiler: value sets, whether an s-op can be none,
// is injective over positions or uniform, and each selector as one predicate over one key s-op
// and one query s-op.
#pragma once

#include <string>
#include <vector>

#include "lib/rasp/program.hpp"

namespace circuits::rasp {

struct SopInfo {
    bool live = false;
    std::vector<Value> values;  // every value the s-op can take (sorted, none excluded)
    bool may_be_none = false;
    bool injective = false;  // distinct positions always hold distinct values (never none)
    bool uniform = false;    // every position holds the same value
    // A categorical aggregate whose selected keys may carry different values for some input
    // (the evaluator gives none there; the compiled head gives a mixture that reads as none).
    bool ambiguous = false;
    bool consumed = false;  // read by another live node or selector
};

// A selector as the compiled head sees it: selected(i, j) = matrix[query value of i][key value of j],
// none never selected. `and` / `or` / `not` of selects over the same key and query s-ops (a select
// whose predicate ignores its keys or queries, which are never none, fits any) become one predicate
// (`combined`). Otherwise the head reads a joint s-op on a side whose selects read several s-ops:
// one value per tuple of their values, built by an MLP (`key_parts` / `query_parts` list them).
struct SelectorInfo {
    bool combined = false;
    int keys = -1;       // combined: the key s-op
    int queries = -1;    // combined: the query s-op
    Function predicate;  // combined: (k, q) -> bool, applied as predicate(key, query)
    // The s-ops each side reads: one (the head reads it directly) or several (a joint s-op whose
    // values are the tuples of theirs, first part most significant).
    std::vector<int> key_parts, query_parts;
    // The values (or tuples, "(a, 3)") of each side, in the order of the matrix's columns / rows.
    std::vector<std::string> key_labels, query_labels;
    // [query value][key value] over the value sets (or tuples): whether the selector holds.
    std::vector<std::vector<char>> matrix;
    bool always_selects = false;     // every query selects at least one key (on non-empty input)
    bool query_independent = false;  // every query selects the same keys (without a causal mask)
    bool functional = false;         // each query value matches at most one key value (or tuple)
    // [key part]: every query value's matching keys agree on this part's value (so a query selects
    // one position when the part is injective, or equal values when the values are a function of it).
    std::vector<char> functional_parts;
    bool strict_order = false;       // keys == queries and the predicate is < or > on the values
    bool joint_keys() const { return key_parts.size() > 1; }
    bool joint_queries() const { return query_parts.size() > 1; }
};

// Largest joint value set (tuples of one side of a selector) the compiler accepts.
inline constexpr size_t kMaxJointValues = 4096;

struct Analysis {
    std::vector<SopInfo> sops;            // [node]
    std::vector<SelectorInfo> selectors;  // [selector]
    const SopInfo& sop(int node) const { return sops[static_cast<size_t>(node)]; }
    const SelectorInfo& selector(int s) const { return selectors[static_cast<size_t>(s)]; }
};

// Largest value set the compiler accepts for one s-op.
inline constexpr size_t kMaxValueSet = 10000;

// Value sets (RASP.md, Compilation step 2) and the facts above for every live node. Needs the
// vocabulary and max_len (throws Error when either is missing). Throws Error naming the line
// when a value set grows past kMaxValueSet.
Analysis analyse(const Program& program);

// The values of a numerical aggregate of values in {0, 1}: k/w for 0 <= k <= w <= max_len.
std::vector<Value> mean_values(int max_len);

}  // namespace circuits::rasp
