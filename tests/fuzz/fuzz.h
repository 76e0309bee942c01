/*
 * fuzz.h: the libFuzzer entry points every harness defines.  A harness
 * tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput (and, if it needs
 * setup, LLVMFuzzerInitialize).  It is linked twice: with libFuzzer (clang,
 * -fsanitize=fuzzer,address,undefined) and with replay.c (the normal
 * compiler, SANITIZE when set).  See tests/fuzz/README.md.
 */
#ifndef VKV_FUZZ_H
#define VKV_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* runs one input; must never crash, leak or read outside data[0..size) */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* optional one-time setup (weak in replay.c) */
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
