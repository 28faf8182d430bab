// The libFuzzer entry point of one fuzz target, chosen at compile time by CIRCUITS_FUZZ_ENTRY.
#include "tests/fuzz/targets/fuzz_targets.hpp"

// One empty input before fuzzing starts: the targets' one-time set-up (a reference model read and
// written once per process) is not charged to the first input's 1 s timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    static const std::uint8_t empty[1] = {0};
    circuits::fuzz::CIRCUITS_FUZZ_ENTRY(empty, 0);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    circuits::fuzz::CIRCUITS_FUZZ_ENTRY(data, size);
    return 0;
}
