// RASP values: Python semantics for arithmetic, comparison and truthiness.
#include "lib/rasp/value.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace circuits::rasp {

namespace {

// An integer view of bool/int values (the operands Python keeps integral).
bool integral(const Value& v) {
    return v.is_bool() || v.is_int();
}
std::int64_t int_of(const Value& v) {
    return v.is_bool() ? (v.as_bool() ? 1 : 0) : v.as_int();
}

[[noreturn]] void type_error(const std::string& op, const Value& a, const Value& b) {
    throw ValueError("unsupported operand types for " + op + ": " + a.type_name() + " '" + a.to_string() + "' and " +
                     b.type_name() + " '" + b.to_string() + "'");
}

Value checked_int(__int128 r, const std::string& op) {
    if (r > std::numeric_limits<std::int64_t>::max() || r < std::numeric_limits<std::int64_t>::min())
        throw ValueError("integer overflow in " + op);
    return Value::integer(static_cast<std::int64_t>(r));
}

// Python's floor division and modulo for integers (results rounded towards -infinity).
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

std::int64_t floor_mod(std::int64_t a, std::int64_t b) {
    std::int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

int compare_numbers(const Value& a, const Value& b) {
    if (integral(a) && integral(b)) {
        const auto x = int_of(a), y = int_of(b);
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    const double x = a.to_double(), y = b.to_double();
    return x < y ? -1 : (x > y ? 1 : 0);
}

// Ordering comparison for < <= > >=: numbers with numbers, strings with strings.
int order(const std::string& op, const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) return compare_numbers(a, b);
    if (a.is_string() && b.is_string())
        return a.as_string().compare(b.as_string()) < 0 ? -1 : (a.as_string() == b.as_string() ? 0 : 1);
    type_error(op, a, b);
}

}  // namespace

Value Value::from_token(const std::string& text) {
    if (text.empty()) return Value::string(text);
    std::int64_t i = 0;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, i);
    if (ec == std::errc() && p == end) return Value::integer(i);
    double d = 0.0;
    auto [q, ec2] = std::from_chars(text.data(), end, d);
    if (ec2 == std::errc() && q == end && std::isfinite(d)) return Value::number(d);
    return Value::string(text);
}

double Value::to_double() const {
    if (is_bool()) return as_bool() ? 1.0 : 0.0;
    if (is_int()) return static_cast<double>(as_int());
    if (is_float()) return m_number;
    throw ValueError(type_name() + " '" + to_string() + "' is not a number");
}

bool Value::truthy() const {
    if (is_none()) return false;
    if (is_bool()) return as_bool();
    if (is_int()) return as_int() != 0;
    if (is_float()) return m_number != 0.0;
    return !as_string().empty();
}

std::string Value::to_string() const {
    if (is_none()) return "none";
    if (is_bool()) return as_bool() ? "true" : "false";
    if (is_int()) return std::to_string(as_int());
    if (is_float()) return format_double(m_number);
    return as_string();
}

std::string Value::type_name() const {
    if (is_none()) return "none";
    if (is_bool()) return "bool";
    if (is_int()) return "int";
    if (is_float()) return "float";
    return "string";
}

bool operator==(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
    if (a.is_string() && b.is_string()) return a.as_string() == b.as_string();
    return a.is_none() && b.is_none();
}

bool value_less(const Value& a, const Value& b) {
    const auto rank = [](const Value& v) { return v.is_none() ? 0 : (v.is_number() ? 1 : 2); };
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    if (a.is_number()) return compare_numbers(a, b) < 0;
    if (a.is_string()) return a.as_string() < b.as_string();
    return false;
}

void sort_unique(std::vector<Value>& values) {
    std::stable_sort(values.begin(), values.end(), value_less);
    values.erase(std::unique(values.begin(), values.end()), values.end());
}

std::string format_double(double x) {
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, x);
    return ec == std::errc() ? std::string(buf, p) : std::to_string(x);
}

std::string format_float(float x) {
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, x);
    return ec == std::errc() ? std::string(buf, p) : std::to_string(x);
}

Value apply_binary(const std::string& op, const Value& a, const Value& b) {
    if (op == "==") return Value::boolean(a == b);
    if (op == "!=") return Value::boolean(a != b);
    if (op == "<") return Value::boolean(order(op, a, b) < 0);
    if (op == "<=") return Value::boolean(order(op, a, b) <= 0);
    if (op == ">") return Value::boolean(order(op, a, b) > 0);
    if (op == ">=") return Value::boolean(order(op, a, b) >= 0);
    // Python's `and`/`or` return one of their operands.
    if (op == "and") return a.truthy() ? b : a;
    if (op == "or") return a.truthy() ? a : b;
    if (op == "+" && a.is_string() && b.is_string()) return Value::string(a.as_string() + b.as_string());
    if (!a.is_number() || !b.is_number()) type_error(op, a, b);
    const bool ints = integral(a) && integral(b);
    if (op == "+")
        return ints ? checked_int(__int128(int_of(a)) + int_of(b), op) : Value::number(a.to_double() + b.to_double());
    if (op == "-")
        return ints ? checked_int(__int128(int_of(a)) - int_of(b), op) : Value::number(a.to_double() - b.to_double());
    if (op == "*")
        return ints ? checked_int(__int128(int_of(a)) * int_of(b), op) : Value::number(a.to_double() * b.to_double());
    if (op == "/") {
        if (b.to_double() == 0.0) throw ValueError("division by zero");
        return Value::number(a.to_double() / b.to_double());
    }
    if (op == "//" || op == "%") {
        if (b.to_double() == 0.0) throw ValueError(op == "//" ? "integer division by zero" : "modulo by zero");
        if (ints) {
            if (int_of(a) == std::numeric_limits<std::int64_t>::min() && int_of(b) == -1)
                throw ValueError("integer overflow in " + op);
            return Value::integer(op == "//" ? floor_div(int_of(a), int_of(b)) : floor_mod(int_of(a), int_of(b)));
        }
        const double x = a.to_double(), y = b.to_double();
        if (op == "//") return Value::number(std::floor(x / y));
        double r = std::fmod(x, y);
        if (r != 0.0 && ((r < 0) != (y < 0))) r += y;
        return Value::number(r);
    }
    throw ValueError("unknown operator '" + op + "'");
}

Value apply_unary(const std::string& op, const Value& a) {
    if (op == "not") return Value::boolean(!a.truthy());
    if (!a.is_number())
        throw ValueError("bad operand type for unary " + op + ": " + a.type_name() + " '" + a.to_string() + "'");
    if (op == "+") return integral(a) ? Value::integer(int_of(a)) : a;
    if (op == "-") return integral(a) ? checked_int(-__int128(int_of(a)), op) : Value::number(-a.to_double());
    throw ValueError("unknown operator '" + op + "'");
}

bool is_builtin(const std::string& name) {
    return name == "min" || name == "max" || name == "abs" || name == "round" || name == "int" || name == "float" ||
           name == "str";
}

Value apply_builtin(const std::string& name, const std::vector<Value>& args) {
    const auto want = [&](size_t n) {
        if (args.size() != n)
            throw ValueError(name + "() takes " + std::to_string(n) + " argument" + (n == 1 ? "" : "s") + ", got " +
                             std::to_string(args.size()));
    };
    if (name == "min" || name == "max") {
        if (args.size() < 2)
            throw ValueError(name + "() takes at least 2 arguments, got " + std::to_string(args.size()));
        Value best = args[0];
        for (size_t i = 1; i < args.size(); ++i) {
            const int c = order(name, args[i], best);
            if (name == "min" ? c < 0 : c > 0) best = args[i];
        }
        return best;
    }
    if (name == "abs") {
        want(1);
        const Value& x = args[0];
        if (!x.is_number()) throw ValueError("abs() of " + x.type_name() + " '" + x.to_string() + "'");
        if (integral(x)) return checked_int(int_of(x) < 0 ? -__int128(int_of(x)) : __int128(int_of(x)), "abs");
        return Value::number(std::fabs(x.to_double()));
    }
    if (name == "round") {
        want(1);
        const Value& x = args[0];
        if (integral(x)) return Value::integer(int_of(x));
        const double d = x.to_double();
        if (!std::isfinite(d) || std::fabs(d) > 9.2e18)
            throw ValueError("round() of " + x.to_string() + " is out of range");
        // Python 3 rounds halves to even.
        return Value::integer(static_cast<std::int64_t>(std::nearbyint(d)));
    }
    if (name == "int") {
        want(1);
        const Value& x = args[0];
        if (x.is_string()) {
            const Value parsed = Value::from_token(x.as_string());
            if (!parsed.is_int()) throw ValueError("int() of string '" + x.as_string() + "'");
            return parsed;
        }
        if (integral(x)) return Value::integer(int_of(x));
        const double d = x.to_double();
        if (!std::isfinite(d) || std::fabs(d) > 9.2e18)
            throw ValueError("int() of " + x.to_string() + " is out of range");
        return Value::integer(static_cast<std::int64_t>(std::trunc(d)));
    }
    if (name == "float") {
        want(1);
        const Value& x = args[0];
        if (x.is_string()) {
            const Value parsed = Value::from_token(x.as_string());
            if (!parsed.is_number()) throw ValueError("float() of string '" + x.as_string() + "'");
            return Value::number(parsed.to_double());
        }
        return Value::number(x.to_double());
    }
    if (name == "str") {
        want(1);
        return Value::string(args[0].to_string());
    }
    throw ValueError("unknown function '" + name + "'");
}

}  // namespace circuits::rasp
