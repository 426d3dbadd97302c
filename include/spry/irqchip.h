/*
 * spry's userspace interrupt controllers, for accelerators without KVM's
 * in-kernel irqchip: a local APIC per vCPU (xAPIC, MMIO at 0xfee00000, its
 * timer on a 1 GHz bus clock as KVM's) and the IOAPIC (0xfec00000, 24 pins).
 * Both are plain models: their clocks and the ways out (waking a vCPU,
 * delivering to a local APIC, an EOI reaching the IOAPIC) are callbacks, so
 * tests drive them without threads or real time. Each is safe to call from
 * any thread.
 */
#ifndef SPRY_IRQCHIP_H
#define SPRY_IRQCHIP_H

#include <stdbool.h>
#include <stdint.h>

#define LAPIC_MMIO_SIZE	0x1000

struct lapic;

struct lapic_ops {
	int64_t (*clock_ns)(void);			/* NULL: CLOCK_MONOTONIC */
	void (*kick)(void *opaque);			/* an interrupt became pending */
	void (*eoi)(void *opaque, uint8_t vector);	/* EOI of a level-triggered vector */
};

/* A local APIC with id @apic_id, reset and software-disabled; NULL without memory. */
struct lapic *lapic_new(uint32_t apic_id, const struct lapic_ops *ops, void *opaque);
void lapic_free(struct lapic *l);

/* A 32-bit access at @offset in the APIC page; other widths are the caller's to refuse. */
uint32_t lapic_read(struct lapic *l, uint32_t offset);
void lapic_write(struct lapic *l, uint32_t offset, uint32_t v);

/* Accept fixed interrupt @vector (level-triggered: an EOI goes back to ops->eoi). */
void lapic_set_irq(struct lapic *l, uint8_t vector, bool level);
/* Whether @dest (an APIC id, or a logical mask with @logical) addresses this APIC. */
bool lapic_match(struct lapic *l, uint8_t dest, bool logical);

/*
 * The vector the CPU should take now (after the timer caught up with the
 * clock), or -1. The CPU taking it calls lapic_ack(), which moves it in service.
 */
int lapic_pending(struct lapic *l);
void lapic_ack(struct lapic *l, int vector);
/* When the timer fires next (clock nanoseconds), or INT64_MAX. */
int64_t lapic_next_event(struct lapic *l);

struct ioapic;

#define IOAPIC_PINS	24
#define IOAPIC_MMIO_SIZE 0x100

/* Deliver @vector to the local APIC(s) @dest names (physical id or logical mask). */
typedef void ioapic_deliver_fn(void *opaque, uint8_t dest, bool logical, uint8_t vector,
			       bool level);

struct ioapic *ioapic_new(ioapic_deliver_fn *deliver, void *opaque);
void ioapic_free(struct ioapic *io);
uint32_t ioapic_read(struct ioapic *io, uint32_t offset);
void ioapic_write(struct ioapic *io, uint32_t offset, uint32_t v);
/* Drive input @pin to @level (0 or 1, before the entry's polarity). */
void ioapic_set_irq(struct ioapic *io, unsigned int pin, int level);
/* A local APIC's EOI of level-triggered @vector. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

#endif
