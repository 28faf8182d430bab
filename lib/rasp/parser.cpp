// Recursive-descent parser of the RASP language (grammar in the comments of each rule).
#include "lib/rasp/parser.hpp"

#include <set>

#include "lib/error.hpp"
#include "lib/rasp/lexer.hpp"

namespace circuits::rasp {

namespace {

const std::set<std::string>& keywords() {
    static const std::set<std::string> k = {"and",  "or",  "not", "if",     "then",  "else",    "true",  "false",
                                            "none", "let", "def", "output", "vocab", "max_len", "causal"};
    return k;
}

bool is_comparison(const std::string& op) {
    return op == "==" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=";
}

std::string describe(const Token& t) {
    switch (t.kind) {
        case TokenKind::name:
            return "'" + t.text + "'";
        case TokenKind::number:
            return "the number " + t.text;
        case TokenKind::string:
            return "the string \"" + t.text + "\"";
        case TokenKind::word:
            return "'" + t.text + "'";
        case TokenKind::op:
            return "'" + t.text + "'";
        case TokenKind::newline:
            return "the end of the line";
        case TokenKind::end:
            return "the end of the file";
    }
    return "?";
}

class Parser {
public:
    Parser(std::vector<Token> tokens, const std::string& filename) : m_tok(std::move(tokens)), m_file(filename) {}

    std::vector<Statement> statements() {
        std::vector<Statement> out;
        while (peek().kind != TokenKind::end) {
            if (peek().kind == TokenKind::newline) {
                next();
                continue;
            }
            out.push_back(statement());
        }
        return out;
    }

private:
    std::vector<Token> m_tok;
    const std::string& m_file;
    size_t m_pos = 0;
    // Depth of the expression being parsed (parentheses, calls, prefix and binary operators): the
    // parser and everything after it recurse over the tree, so a hostile program (10^5 open
    // parentheses) is refused instead of overflowing the stack.
    static constexpr int kMaxNesting = 500;
    int m_nesting = 0;
    struct Nested {
        Parser& p;
        Nested(Parser& parser, const Token& at) : p(parser) {
            if (++p.m_nesting > kMaxNesting)
                p.fail(at, "expression nested deeper than " + std::to_string(kMaxNesting) + " levels");
        }
        ~Nested() { --p.m_nesting; }
    };

    const Token& peek(size_t ahead = 0) const { return m_tok[std::min(m_pos + ahead, m_tok.size() - 1)]; }
    const Token& next() { return m_tok[std::min(m_pos++, m_tok.size() - 1)]; }
    bool is_op(const std::string& op, size_t ahead = 0) const {
        return peek(ahead).kind == TokenKind::op && peek(ahead).text == op;
    }
    bool is_name(const std::string& name, size_t ahead = 0) const {
        return peek(ahead).kind == TokenKind::name && peek(ahead).text == name;
    }

    [[noreturn]] void fail(const Token& at, const std::string& msg) const {
        throw Error(location(m_file, at.line, at.col) + msg);
    }
    // Where a missing token belongs: at the token found, or right after the previous token when
    // the one found is on a later line (inside parentheses a statement may span lines).
    Token gap() const {
        Token at = peek();
        if (m_pos > 0) {
            const Token& prev = m_tok[m_pos - 1];
            if (at.line > prev.end_line) {
                at.line = prev.end_line;
                at.col = prev.end_col;
            }
        }
        return at;
    }
    [[noreturn]] void expected(const std::string& what, const std::string& after) const {
        fail(gap(), "expected " + what + " after " + after + ", found " + describe(peek()));
    }
    void expect_op(const std::string& op, const std::string& after) {
        if (!is_op(op)) expected("'" + op + "'", after);
        next();
    }
    std::string expect_identifier(const std::string& what, const std::string& after) {
        if (peek().kind != TokenKind::name) expected(what, after);
        if (keywords().count(peek().text))
            fail(peek(), "'" + peek().text + "' is a keyword and cannot be used as " + what);
        return next().text;
    }
    void end_of_statement(const std::string& after) {
        if (peek().kind != TokenKind::newline && peek().kind != TokenKind::end) expected("the end of the line", after);
        if (peek().kind == TokenKind::newline) next();
    }

    std::shared_ptr<Expr> make(Expr::Kind kind, const Token& at) {
        auto e = std::make_shared<Expr>();
        e->kind = kind;
        e->line = at.line;
        e->col = at.col;
        return e;
    }

    // statement := vocab WORD+ | max_len INT | causal | let NAME = expr | def NAME(params) = expr
    //            | output NAME | NAME = expr
    Statement statement() {
        const Token& first = peek();
        Statement s;
        s.line = first.line;
        s.col = first.col;
        if (first.kind != TokenKind::name)
            fail(first, "expected a statement (NAME = ..., let, def, output, vocab, max_len or causal), found " +
                            describe(first));
        const std::string head = first.text;
        if (head == "vocab") {
            next();
            s.kind = Statement::Kind::vocab;
            while (peek().kind == TokenKind::word) s.vocab.push_back(next().value);
            if (s.vocab.empty()) expected("at least one token", "'vocab'");
            end_of_statement("the vocabulary");
            return s;
        }
        if (head == "max_len") {
            next();
            s.kind = Statement::Kind::max_len;
            if (peek().kind != TokenKind::number || !peek().value.is_int()) expected("an integer", "'max_len'");
            const auto n = next().value.as_int();
            if (n < 1 || n > 4096)
                fail(m_tok[m_pos - 1], "max_len must be between 1 and 4096, got " + std::to_string(n));
            s.max_len = static_cast<int>(n);
            end_of_statement("'max_len " + std::to_string(n) + "'");
            return s;
        }
        if (head == "causal") {
            next();
            s.kind = Statement::Kind::causal;
            end_of_statement("'causal'");
            return s;
        }
        if (head == "let") {
            next();
            s.kind = Statement::Kind::let;
            s.name = expect_identifier("a constant name", "'let'");
            expect_op("=", "'let " + s.name + "'");
            s.expr = expression();
            end_of_statement("the value of '" + s.name + "'");
            return s;
        }
        if (head == "def") {
            next();
            def_statement(s);
            return s;
        }
        if (head == "output") {
            next();
            s.kind = Statement::Kind::output;
            if (peek().kind != TokenKind::name) expected("the name of the output s-op", "'output'");
            s.name = next().text;
            end_of_statement("'output " + s.name + "'");
            return s;
        }
        if (keywords().count(head))
            fail(first, "expected a statement (NAME = ..., let, def, output, vocab, max_len or causal), found " +
                            describe(first));
        next();
        s.kind = Statement::Kind::bind;
        s.name = head;
        if (!is_op("=")) expected("'='", "'" + head + "' at the start of a statement");
        next();
        s.expr = expression();
        end_of_statement("the definition of '" + s.name + "'");
        return s;
    }

    // def NAME(params) = expr, after the 'def'.
    void def_statement(Statement& s) {
        s.kind = Statement::Kind::def;
        s.name = expect_identifier("a function name", "'def'");
        expect_op("(", "'def " + s.name + "'");
        if (!is_op(")")) {
            s.params.push_back(expect_identifier("a parameter name", "'def " + s.name + "('"));
            while (is_op(",")) {
                next();
                s.params.push_back(expect_identifier("a parameter name", "','"));
            }
        }
        expect_op(")", "the parameters of '" + s.name + "'");
        expect_op("=", "'def " + s.name + "(...)'");
        s.expr = expression();
        end_of_statement("the body of '" + s.name + "'");
    }

    // Whether the next token can begin an operand.
    bool operand_ahead() const {
        const Token& t = peek();
        if (t.kind == TokenKind::number || t.kind == TokenKind::string) return true;
        if (t.kind == TokenKind::name)
            return !keywords().count(t.text) || t.text == "true" || t.text == "false" || t.text == "none" ||
                   t.text == "not" || t.text == "if";
        return t.kind == TokenKind::op && (t.text == "(" || t.text == "-" || t.text == "+");
    }

    void expect_operand(const std::string& op) const {
        if (!operand_ahead()) expected("an operand", "'" + op + "'");
    }

    bool lambda_ahead() const {
        if (peek().kind == TokenKind::name && is_op("->", 1)) return true;
        if (!is_op("(")) return false;
        size_t i = 1;
        while (peek(i).kind == TokenKind::name) {
            if (is_op(")", i + 1)) return is_op("->", i + 2);
            if (!is_op(",", i + 1)) return false;
            i += 2;
        }
        return false;
    }

    // expr := lambda | if expr then expr else expr | or_expr
    ExprPtr expression() {
        const Nested nested(*this, peek());
        if (lambda_ahead()) return lambda();
        if (is_name("if")) {
            auto e = make(Expr::Kind::conditional, next());
            e->args.push_back(expression());
            if (!is_name("then")) expected("'then'", "the condition of 'if'");
            next();
            e->args.push_back(expression());
            if (!is_name("else")) expected("'else'", "the 'then' branch");
            next();
            e->args.push_back(expression());
            return e;
        }
        return or_expr();
    }

    // lambda := NAME -> expr | (NAME, ...) -> expr
    ExprPtr lambda() {
        auto e = make(Expr::Kind::lambda, peek());
        if (is_op("(")) {
            next();
            e->params.push_back(expect_identifier("a parameter name", "'('"));
            while (is_op(",")) {
                next();
                e->params.push_back(expect_identifier("a parameter name", "','"));
            }
            expect_op(")", "the lambda's parameters");
        } else {
            e->params.push_back(expect_identifier("a parameter name", "the start of the lambda"));
        }
        expect_op("->", "the lambda's parameters");
        e->args.push_back(expression());
        return e;
    }

    ExprPtr binary_left(ExprPtr (Parser::*operand)(), const std::vector<std::string>& ops, bool word_ops) {
        ExprPtr left = (this->*operand)();
        int chain = 0;  // a left-deep chain a + b + c ... is as deep as it is long
        while (true) {
            const Token& t = peek();
            bool match = false;
            for (const auto& op : ops)
                if ((word_ops ? t.kind == TokenKind::name : t.kind == TokenKind::op) && t.text == op) match = true;
            if (!match) {
                m_nesting -= chain;
                return left;
            }
            if (++m_nesting > kMaxNesting) fail(t, "expression nested deeper than " + std::to_string(kMaxNesting) + " levels");
            ++chain;
            auto e = make(Expr::Kind::binary, t);
            e->text = next().text;
            e->args.push_back(left);
            expect_operand(e->text);
            e->args.push_back((this->*operand)());
            left = e;
        }
    }

    ExprPtr or_expr() { return binary_left(&Parser::and_expr, {"or"}, true); }
    ExprPtr and_expr() { return binary_left(&Parser::not_expr, {"and"}, true); }

    ExprPtr not_expr() {
        if (is_name("not")) {
            const Nested nested(*this, peek());
            auto e = make(Expr::Kind::unary, next());
            e->text = "not";
            expect_operand("not");
            e->args.push_back(not_expr());
            return e;
        }
        return comparison();
    }

    // comparison := additive [CMP additive]
    ExprPtr comparison() {
        ExprPtr left = additive();
        if (peek().kind == TokenKind::op && is_comparison(peek().text)) {
            auto e = make(Expr::Kind::binary, peek());
            e->text = next().text;
            e->args.push_back(left);
            expect_operand(e->text);
            e->args.push_back(additive());
            if (peek().kind == TokenKind::op && is_comparison(peek().text))
                fail(peek(), "chained comparisons are not supported; combine two comparisons with 'and'");
            return e;
        }
        return left;
    }

    ExprPtr additive() { return binary_left(&Parser::term, {"+", "-"}, false); }
    ExprPtr term() { return binary_left(&Parser::unary, {"*", "/", "//", "%"}, false); }

    ExprPtr unary() {
        if (is_op("-") || is_op("+")) {
            const Nested nested(*this, peek());
            auto e = make(Expr::Kind::unary, peek());
            e->text = next().text;
            expect_operand(e->text);
            e->args.push_back(unary());
            return e;
        }
        return primary();
    }

    // primary := NUMBER | STRING | true | false | none | NAME | NAME(args) | (expr)
    ExprPtr primary() {
        const Token& t = peek();
        if (t.kind == TokenKind::number || t.kind == TokenKind::string) {
            auto e = make(Expr::Kind::literal, next());
            e->value = t.value;
            return e;
        }
        if (t.kind == TokenKind::name && (t.text == "true" || t.text == "false" || t.text == "none")) {
            auto e = make(Expr::Kind::literal, next());
            e->value = t.text == "none" ? Value::none() : Value::boolean(t.text == "true");
            return e;
        }
        if (t.kind == TokenKind::name) {
            if (keywords().count(t.text)) fail(t, "expected an expression, found the keyword '" + t.text + "'");
            auto e = make(Expr::Kind::name, next());
            e->text = t.text;
            if (is_op("(")) {
                next();
                e->kind = Expr::Kind::call;
                arguments(*e);
            }
            return e;
        }
        if (is_op("(")) {
            const Token& open = next();
            ExprPtr inner = expression();
            if (!is_op(")"))
                fail(gap(), "expected ')' to close the '(' at line " + std::to_string(open.line) + ":" +
                                std::to_string(open.col) + ", found " + describe(peek()));
            next();
            return inner;
        }
        if (t.kind == TokenKind::op && is_comparison(t.text))
            fail(t, "a bare '" + t.text + "' is only allowed as the predicate of select(...)");
        fail(t, "expected an expression, found " + describe(t));
    }

    // args := [arg {, arg}]; arg := NAME: expr | CMP | expr
    void arguments(Expr& call) {
        if (is_op(")")) {
            next();
            return;
        }
        while (true) {
            const Token& t = peek();
            if (t.kind == TokenKind::name && is_op(":", 1)) {
                next();
                next();
                call.arg_names.push_back(t.text);
                call.args.push_back(expression());
            } else if (t.kind == TokenKind::op && is_comparison(t.text)) {
                auto e = make(Expr::Kind::operator_ref, next());
                e->text = t.text;
                call.arg_names.emplace_back();
                call.args.push_back(e);
            } else {
                call.arg_names.emplace_back();
                call.args.push_back(expression());
            }
            if (is_op(",")) {
                next();
                continue;
            }
            if (is_op(")")) {
                next();
                return;
            }
            expected("',' or ')'", "argument " + std::to_string(call.args.size()) + " of " + call.text + "(...)");
        }
    }
};

}  // namespace

Ast parse(const std::string& source, const std::string& filename) {
    Ast ast;
    ast.filename = filename;
    ast.source = source;
    ast.statements = Parser(tokenize(source, filename), filename).statements();
    return ast;
}

}  // namespace circuits::rasp
