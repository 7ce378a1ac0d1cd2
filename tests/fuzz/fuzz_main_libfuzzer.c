/* libFuzzer entry point: built only by tests/fuzz/run-fuzzer, with clang -fsanitize=fuzzer. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return tg_fuzz_one(data, size);
}
