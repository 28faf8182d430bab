// The syntax tree of a RASP file, as the parser reads it (names not yet resolved).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lib/rasp/value.hpp"

namespace circuits::rasp {

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
    enum class Kind {
        literal,      // value
        name,         // text
        unary,        // text = "-", "+", "not"; args = [operand]
        binary,       // text = operator; args = [left, right]
        call,         // text = callee; args; arg_names ("" for positional, "default" for `default: 0`)
        lambda,       // params; args = [body]
        conditional,  // if args[0] then args[1] else args[2]
        operator_ref  // a bare comparison used as a predicate: text = "==", "<", ...
    };
    Kind kind = Kind::literal;
    int line = 0;
    int col = 0;
    Value value;
    std::string text;
    std::vector<ExprPtr> args;
    std::vector<std::string> arg_names;
    std::vector<std::string> params;
};

struct Statement {
    enum class Kind { vocab, max_len, causal, let, def, bind, output };
    Kind kind = Kind::bind;
    int line = 0;
    int col = 0;
    std::string name;                 // let / def / bind / output
    std::vector<std::string> params;  // def
    ExprPtr expr;                     // let / def / bind
    std::vector<Value> vocab;         // vocab
    int max_len = 0;                  // max_len
};

struct Ast {
    std::string filename;
    std::string source;
    std::vector<Statement> statements;
};

}  // namespace circuits::rasp
