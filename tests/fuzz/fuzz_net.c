/*
 * fuzz_net.c - libFuzzer target for the DICOM upper layer and DIMSE
 * parsers (nova/net.h); see fuzz_net_one.h for what each input does.  Its
 * seed corpus is tests/fuzz/corpus-net (PDUs captured from DCMTK, the
 * hostile PDUs of tests/net/test_net.py, whole C-ECHO and C-STORE
 * conversations), replayed by tests/unit/test_net.c in `make check`.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_net_one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_net_one(data, size);
    return 0;
}
