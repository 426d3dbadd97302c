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

/*
 * Whether channel 0's OUT rose since the last call: 0 when it did (the call
 * counts it), else the clock time of the next rise, or INT64_MAX for none.
 * Call with nothing else using @p; the IRQ thread does.
 */
int64_t pit_irq_due(struct pit *p);
/* Start a thread calling @raise(@opaque) at every rise of channel 0's OUT; 0 or -errno. */
int pit_irq_start(struct pit *p, void (*raise)(void *opaque), void *opaque);

/*
 * Put a PIT on @vm's port bus at 0x40-0x43, raising SPRY_GSI_PIT; 0, or -1
 * with a message printed.
 */
int pit_init(struct vm *vm);

#endif
