// Tests of the program-graph picture: every s-op drawn once in its layer's column with its block,
// arrows for its inputs, and the report's block built from a compiled model's stored program.
#include "reports/program_graph.hpp"

#include "lib/rasp/program.hpp"
#include "tests/test_util.hpp"

namespace circuits::reports {

namespace {

size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

const std::string kReverse =
    "vocab a b c d\nmax_len 6\nlength = selector_width(select(tokens, tokens, true))\n"
    "opp = length - indices - 1\nreverse = aggregate(select(indices, opp, ==), tokens)\noutput reverse\n";

}  // namespace

TEST_CASE("program graph: reverse is drawn as five s-ops in their sub-layers with one arrow per input") {
    rasp::CompiledGraph g;
    rasp::compile(rasp::parse_program(kReverse, "r.rasp"), {}, g);
    REQUIRE(g.sops.size() == 5);
    CHECK(g.n_layers == 3);
    CHECK(g.longest_path_layers == 3);
    const std::string svg = program_graph_svg(g);
    CHECK(count(svg, "<g class=\"sop\"") == 5);
    // reverse reads tokens (its values), indices (keys) and opp (queries); opp reads length and
    // indices; length reads tokens (as keys and queries, one arrow): 6 arrows.
    CHECK(count(svg, "class=\"edge\"") == 6);
    CHECK(svg.find("data-kind=\"selector_width\" data-block=\"L0 H0 + MLP\"") != std::string::npos);
    CHECK(svg.find("data-kind=\"sequence_map\" data-block=\"L1 MLP\"") != std::string::npos);
    CHECK(svg.find("data-kind=\"aggregate\" data-block=\"L2 H0\"") != std::string::npos);
    CHECK(svg.find("select(indices, opp, (k == q))") != std::string::npos);  // the aggregate's tooltip
    CHECK(svg.find(">layer 2 attention</text>") != std::string::npos);
}

TEST_CASE("program graph: a joint s-op is drawn between its parts and the head that compares it") {
    rasp::CompiledGraph g;
    rasp::compile(rasp::parse_program("vocab a b\nmax_len 4\nw = selector_width(select(tokens, tokens, ==) and "
                                      "select(indices, indices, <))\noutput w\n",
                                      "j.rasp"),
                  {}, g);
    const std::string svg = program_graph_svg(g);
    CHECK(svg.find("data-kind=\"joint\" data-block=\"L0 MLP\"") != std::string::npos);
    CHECK(svg.find(">(tokens, indices)</text>") != std::string::npos);
    CHECK(svg.find("data-kind=\"selector_width\" data-block=\"L1 H0 + MLP\"") != std::string::npos);
}

TEST_CASE("program graph: the report block recompiles the stored program with the model's vocabulary and length") {
    // No vocab or max_len lines: they come from the model (as `compile --vocab --max-len` made it).
    const std::string src =
        "length = selector_width(select(tokens, tokens, true))\nopp = length - indices - 1\n"
        "reverse = aggregate(select(indices, opp, ==), tokens)\noutput reverse\n";
    rasp::Program p = rasp::parse_program(src, "r.rasp");
    rasp::ProgramOverrides o;
    o.vocab = std::vector<rasp::Value>{rasp::Value::string("x"), rasp::Value::string("y")};
    o.max_len = 5;
    rasp::apply_overrides(p, o);
    const Model m = rasp::compile(p);
    const std::string html = program_graph_html(m);
    CHECK(html.find("<h3>Program graph</h3>") == 0);
    CHECK(count(html, "<g class=\"sop\"") == 5);
    Model broken = m;
    broken.program_source = "output nothing\n";
    CHECK(program_graph_html(broken).find("does not compile here: program/source:1:1: unknown name") !=
          std::string::npos);
    Model trained = m;
    trained.program_source.clear();
    CHECK(program_graph_html(trained).empty());
}

}  // namespace circuits::reports
