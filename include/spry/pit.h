/*
 * The i8254 PIT model (src/devices/pit.c) for accelerators without an
 * in-kernel one. The model itself takes its clock as a parameter, so its
 * counters can be tested against a clock the test controls.
 */
#ifndef SPRY_PIT_H
#define SPRY_PIT_H

#include <stdint.h>

#include "spry/vm.h"

struct pit;

/* A PIT whose counters run off @clock_ns (NULL: CLOCK_MONOTONIC); NULL without memory. */
struct pit *pit_new(int64_t (*clock_ns)(void));
void pit_free(struct pit *p);

/* An access to port 0x40 + @port (0-2: channels, 3: control word). */
uint8_t pit_read(struct pit *p, unsigned int port);
void pit_write(struct pit *p, unsigned int port, uint8_t v);

/* Put a PIT on @vm's port bus at 0x40-0x43; 0, or -1 with a message printed. */
int pit_init(struct vm *vm);

#endif
