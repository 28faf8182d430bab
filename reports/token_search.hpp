// Full token tables for large vocabularies: per-head data files loaded on demand, searched and paged in the page.
#pragma once

#include "reports/report_context.hpp"

#include <string>

namespace circuits::reports {

// Whether a top-k table is too long to show whole (more rows than options.max_token_rows): its page
// then shows the strongest rows and a search box over every row, read from a data file.
bool table_is_searchable(const ReportContext& ctx, const TopTable& t);

// heads/data/{key}.js, the whole table for report.js: window.circuitsTables[key] = {rows, k, wide,
// ids, values}; ids as base64 little-endian uint16 (uint32 when `wide`, d_vocab > 65535; all ones =
// no entry), values as base64 little-endian IEEE half floats, both row-major [rows, k]. k is capped
// at options.max_top_k.
std::string table_data_js(const ReportContext& ctx, const std::string& key, const TopTable& t);

// vocab.js at the report root: window.circuitsVocab = {"in": [...], "out": [...]}, the displayed
// token strings (display_token), shared by every head page.
std::string vocab_js(const ReportContext& ctx);

// The search and pager controls for the table with element id `table_id` whose data file is
// data/{key}.js. The strongest row not shown on the page is named in data-probe (its token) and
// data-expect (its top-1 entry), which the self-test searches for.
std::string table_search_html(const ReportContext& ctx, const TopTable& t, bool output_vocab,
                              const std::string& table_id, const std::string& key);

// IEEE 754 half-precision bits of v (round to nearest even; NaN and infinities kept).
unsigned short to_half(float v);

}  // namespace circuits::reports
