// RASP values (none, booleans, integers, floats, strings) with Python-like arithmetic and comparison.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace circuits::rasp {

// A failure while computing on values (division by zero, a type mismatch). The evaluator adds the
// line and position; value-set inference skips the inputs that raise it.
class ValueError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One value of an s-op at one position. Booleans, integers and floats compare and hash as numbers
// (true == 1 == 1.0, as in Python); strings only equal strings; none only equals none.
class Value {
public:
    Value() = default;  // none
    static Value none() { return Value(); }
    static Value boolean(bool b) {
        Value v(Kind::boolean);
        v.m_bool = b;
        return v;
    }
    static Value integer(std::int64_t i) {
        Value v(Kind::integer);
        v.m_int = i;
        return v;
    }
    static Value number(double d) {
        Value v(Kind::number);
        v.m_number = d;
        return v;
    }
    static Value string(std::string s) {
        Value v(Kind::string);
        v.m_string = std::move(s);
        return v;
    }
    // A token as written in a `vocab` line or on the command line: an integer or float literal
    // becomes a number, anything else a string.
    static Value from_token(const std::string& text);

    bool is_none() const { return m_kind == Kind::none; }
    bool is_bool() const { return m_kind == Kind::boolean; }
    bool is_int() const { return m_kind == Kind::integer; }
    bool is_float() const { return m_kind == Kind::number; }
    bool is_string() const { return m_kind == Kind::string; }
    // Booleans, integers and floats.
    bool is_number() const { return is_bool() || is_int() || is_float(); }

    bool as_bool() const { return m_bool; }
    std::int64_t as_int() const { return m_int; }
    const std::string& as_string() const { return m_string; }
    // The numeric value of a boolean, integer or float; throws ValueError otherwise.
    double to_double() const;
    // Python truthiness: none, false, 0, 0.0 and "" are false.
    bool truthy() const;

    // "none", "true"/"false", integers in decimal, floats as the shortest decimal that reads back
    // exactly ("0.5", "1", "0.6666666666666666"), strings as they are.
    std::string to_string() const;
    // The kind for messages: "none", "bool", "int", "float", "string".
    std::string type_name() const;

private:
    // A tagged record rather than std::variant: GCC 12 reports false maybe-uninitialized warnings
    // for a variant holding a std::string under the sanitizers.
    enum class Kind : unsigned char { none, boolean, integer, number, string };
    explicit Value(Kind k) : m_kind(k) {}
    Kind m_kind = Kind::none;
    bool m_bool = false;
    std::int64_t m_int = 0;
    double m_number = 0.0;
    std::string m_string;
};

// Python `==`: numbers by value across bool/int/float, strings by text, none only with none.
bool operator==(const Value& a, const Value& b);
inline bool operator!=(const Value& a, const Value& b) {
    return !(a == b);
}

// A total order for value sets: none < numbers (by value) < strings (by text). Values that compare
// equal with == are equivalent in this order.
bool value_less(const Value& a, const Value& b);

// Sorts and removes duplicates (keeping the first of equal values in `values`' order).
void sort_unique(std::vector<Value>& values);

// Binary operators by their source spelling: + - * / // % == != < <= > >= and or.
// Throws ValueError on a type mismatch or a division by zero.
Value apply_binary(const std::string& op, const Value& a, const Value& b);
// Unary operators: "-", "+", "not".
Value apply_unary(const std::string& op, const Value& a);
// Built-in functions of lambda bodies: min max abs round int float str. Throws ValueError.
Value apply_builtin(const std::string& name, const std::vector<Value>& args);
bool is_builtin(const std::string& name);

// The shortest decimal that reads back as exactly `x` ("0.1", "1", "1e+21").
std::string format_double(double x);
std::string format_float(float x);

}  // namespace circuits::rasp
