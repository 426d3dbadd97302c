/*
 * TCG-lite as an accelerator (src/tcg-fallback/accel.c): the interpreter runs
 * the same machine as KVM, one vCPU at CPL 0, without interrupts so far.
 */
#ifndef SPRY_TCG_H
#define SPRY_TCG_H

#include <stddef.h>

#include "spry/vm.h"

extern const struct accel_ops tcg_accel_ops;

/*
 * Whether TCG-lite can run the loaded @vm (see vm_load()): one vCPU, and a
 * kernel that is not Linux (Linux needs interrupts, which TCG-lite does not
 * deliver yet). Returns true, or false with a one-line reason in @why.
 */
bool tcg_accel_can_run(const struct vm *vm, char *why, size_t len);

#endif
