/* libFuzzer entry point of the model harness: built only by tests/fuzz/run-fuzzer model. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return tg_model_one(data, size);
}
