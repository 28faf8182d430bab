// Typed exceptions that library code throws; the command line turns them into messages and exit codes.
#pragma once

#include <stdexcept>
#include <string>

namespace circuits {

// A data or runtime error (bad file, bad weights, failed computation): exit status 1.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A malformed command line or option value: exit status 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace circuits
