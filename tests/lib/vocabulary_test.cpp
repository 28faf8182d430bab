// Tests of Vocabulary: the hash lookup kept in step with every mutation, shared tokens with another
// vocabulary, and the ordinary-token rule.
#include "lib/vocabulary.hpp"

#include "lib/model.hpp"
#include "lib/planted.hpp"
#include "tests/test_util.hpp"

namespace circuits {

TEST_CASE("vocabulary: index is the first position of a string, -1 when absent, and follows every mutation") {
    Vocabulary v({"a", "b", "a", "c"});
    CHECK(v.size() == 4);
    CHECK(v.index("a") == 0);  // a repeated string maps to its first index, as a linear search would
    CHECK(v.index("c") == 3);
    CHECK(v.index("zz") == -1);
    v.push_back("d");
    CHECK(v.index("d") == 4);
    v.push_back("b");
    CHECK(v.index("b") == 1);
    v.set(0, "e");
    CHECK(v.index("a") == 2);  // the other occurrence now comes first
    CHECK(v.index("e") == 0);
    v.assign(3, "x");
    CHECK(v.size() == 3);
    CHECK(v.index("x") == 0);
    CHECK(v.index("e") == -1);
    v.clear();
    CHECK(v.empty());
    CHECK(v.index("x") == -1);
    const std::vector<std::string> strings = {"p", "q"};
    v.assign(strings.begin(), strings.end());
    CHECK(v.index("q") == 1);
    CHECK(v == Vocabulary(strings));
    CHECK(static_cast<const std::vector<std::string>&>(v) == strings);
}

TEST_CASE("vocabulary: Model::token_index is the vocabulary's lookup, also after the model's vocab is reassigned") {
    Model m = planted_induction_model({.n_tokens = 3});
    CHECK(m.token_index("b") == 2);
    m.vocab = std::vector<std::string>{"x", "y", "z", "w"};
    CHECK(m.token_index("y") == 1);
    CHECK(m.token_index("b") == -1);
}

TEST_CASE("vocabulary: shared tokens are matched by string, in input order; equal vocabularies are the identity") {
    const Vocabulary in({"BOS", "a", "b", "c"}), out({"c", "a", "z"});
    const SharedTokens s = in.shared_with(out);
    CHECK_FALSE(s.identity);
    CHECK(s.in == std::vector<int>{1, 3});
    CHECK(s.out == std::vector<int>{1, 0});
    CHECK(in.index_in(out) == std::vector<int>{-1, 1, -1, 0});
    const SharedTokens same = in.shared_with(in);
    CHECK(same.identity);
    CHECK(same.size() == 4);
    CHECK(same.out == std::vector<int>{0, 1, 2, 3});
    CHECK(in.shared_with(Vocabulary({"q"})).size() == 0);
}

TEST_CASE("vocabulary: ordinary tokens leave out BOS and special strings only") {
    for (const char* special : {"<pad>", "<|endoftext|>", "[CLS]", "[MASK_TOKEN]", "compiler_bos", "compiler_pad"})
        CHECK_MESSAGE(is_special_token_string(special), special);
    for (const char* plain : {"a", "<", "<>", "[x]", "[]", "[MASK_1]", "(", "BOS", "the"})
        CHECK_MESSAGE(!is_special_token_string(plain), plain);
    const Vocabulary v({"BOS", "a", "<pad>", "[SEP]", "b", "q"});
    CHECK(v.ordinary(0) == std::vector<int>{1, 4, 5});
    CHECK(v.ordinary(-1) == std::vector<int>{0, 1, 4, 5});
}

}  // namespace circuits
