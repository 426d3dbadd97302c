/*
 * The IOAPIC: 24 input pins, each with a redirection entry that routes it
 * to a vector on the local APIC(s) it names. Edge-triggered pins deliver on
 * a rising edge; level-triggered pins deliver while asserted, once until
 * the local APIC's EOI clears Remote IRR (then again if still asserted).
 * Registers through IOREGSEL (0x00) and IOWIN (0x10), version 0x11 (no EOI
 * register). Fixed and lowest-priority delivery are delivered as fixed; the
 * other modes (SMI, NMI, INIT, ExtINT) are not modelled and go nowhere.
 */
#include <pthread.h>
#include <stdlib.h>

#include "spry/irqchip.h"

#define REG_ID		0x00
#define REG_VERSION	0x01
#define REG_ARB		0x02
#define REG_REDTBL	0x10
#define VERSION		(0x11 | (IOAPIC_PINS - 1) << 16)

#define RTE_VECTOR(e)	((uint8_t)(e))
#define RTE_DELIVERY(e)	(((e) >> 8) & 7)
#define RTE_LOGICAL	(1ULL << 11)
#define RTE_PENDING	(1ULL << 12)
#define RTE_ACTIVE_LOW	(1ULL << 13)
#define RTE_REMOTE_IRR	(1ULL << 14)
#define RTE_LEVEL	(1ULL << 15)
#define RTE_MASKED	(1ULL << 16)
#define RTE_DEST(e)	((uint8_t)((e) >> 56))
#define RTE_WRITABLE	(0xff000000000000ffULL | 0x7ULL << 8 | RTE_LOGICAL | RTE_ACTIVE_LOW | \
			 RTE_LEVEL | RTE_MASKED)

struct ioapic {
	pthread_mutex_t lock;
	ioapic_deliver_fn *deliver;
	void *opaque;
	uint32_t id, regsel;
	uint64_t rte[IOAPIC_PINS];
	uint32_t line;		/* input levels as driven, one bit per pin */
};

/* A delivery decided under the lock and made after it. */
struct delivery {
	bool go;
	uint8_t dest, vector;
	bool logical, level;
};

static bool asserted(const struct ioapic *io, unsigned int pin)
{
	bool high = io->line >> pin & 1;

	return io->rte[pin] & RTE_ACTIVE_LOW ? !high : high;
}

/* Decide whether @pin delivers now (edge: the caller saw the rising edge). */
static struct delivery route(struct ioapic *io, unsigned int pin)
{
	uint64_t e = io->rte[pin];
	struct delivery d = { 0 };

	if ((e & RTE_MASKED) || RTE_DELIVERY(e) > 1)
		return d;
	if (e & RTE_LEVEL) {
		if (e & RTE_REMOTE_IRR)
			return d;
		io->rte[pin] |= RTE_REMOTE_IRR;
	}
	d = (struct delivery){ true, RTE_DEST(e), RTE_VECTOR(e), e & RTE_LOGICAL, e & RTE_LEVEL };
	return d;
}

static void send(struct ioapic *io, struct delivery d)
{
	if (d.go)
		io->deliver(io->opaque, d.dest, d.logical, d.vector, d.level);
}

struct ioapic *ioapic_new(ioapic_deliver_fn *deliver, void *opaque)
{
	struct ioapic *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	pthread_mutex_init(&io->lock, NULL);
	io->deliver = deliver;
	io->opaque = opaque;
	for (int i = 0; i < IOAPIC_PINS; i++)
		io->rte[i] = RTE_MASKED;
	return io;
}

void ioapic_free(struct ioapic *io)
{
	if (!io)
		return;
	pthread_mutex_destroy(&io->lock);
	free(io);
}

static uint32_t read_reg(const struct ioapic *io, uint32_t reg)
{
	unsigned int pin = (reg - REG_REDTBL) / 2;

	switch (reg) {
	case REG_ID: return io->id << 24;
	case REG_VERSION: return VERSION;
	case REG_ARB: return io->id << 24;
	}
	if (reg < REG_REDTBL || pin >= IOAPIC_PINS)
		return 0;
	return reg & 1 ? io->rte[pin] >> 32 : (uint32_t)io->rte[pin];
}

uint32_t ioapic_read(struct ioapic *io, uint32_t offset)
{
	uint32_t v = 0;

	pthread_mutex_lock(&io->lock);
	if (offset == 0x00)
		v = io->regsel;
	else if (offset == 0x10)
		v = read_reg(io, io->regsel);
	pthread_mutex_unlock(&io->lock);
	return v;
}

/* A write to the window: an entry change may release a pending level. */
static struct delivery write_reg(struct ioapic *io, uint32_t reg, uint32_t v)
{
	unsigned int pin = (reg - REG_REDTBL) / 2;
	struct delivery none = { 0 };
	uint64_t e;

	if (reg == REG_ID) {
		io->id = v >> 24 & 0xf;
		return none;
	}
	if (reg < REG_REDTBL || pin >= IOAPIC_PINS)
		return none;
	e = io->rte[pin];
	if (reg & 1)
		e = (e & 0xffffffffULL) | (uint64_t)v << 32;
	else
		e = (e & ~0xffffffffULL) | v;
	io->rte[pin] = (io->rte[pin] & (RTE_REMOTE_IRR | RTE_PENDING)) | (e & RTE_WRITABLE);
	if (!(io->rte[pin] & RTE_LEVEL))
		io->rte[pin] &= ~RTE_REMOTE_IRR;
	return (io->rte[pin] & RTE_LEVEL) && asserted(io, pin) ? route(io, pin) : none;
}

void ioapic_write(struct ioapic *io, uint32_t offset, uint32_t v)
{
	struct delivery d = { 0 };

	pthread_mutex_lock(&io->lock);
	if (offset == 0x00)
		io->regsel = v & 0xff;
	else if (offset == 0x10)
		d = write_reg(io, io->regsel, v);
	pthread_mutex_unlock(&io->lock);
	send(io, d);
}

void ioapic_set_irq(struct ioapic *io, unsigned int pin, int level)
{
	struct delivery d = { 0 };
	bool was;

	if (pin >= IOAPIC_PINS)
		return;
	pthread_mutex_lock(&io->lock);
	was = asserted(io, pin);
	io->line = (io->line & ~(1u << pin)) | (uint32_t)!!level << pin;
	if (asserted(io, pin) && (!was || (io->rte[pin] & RTE_LEVEL)))
		d = route(io, pin);
	pthread_mutex_unlock(&io->lock);
	send(io, d);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	struct delivery d[IOAPIC_PINS] = { 0 };

	pthread_mutex_lock(&io->lock);
	for (unsigned int pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t e = io->rte[pin];

		if (!(e & RTE_LEVEL) || RTE_VECTOR(e) != vector || !(e & RTE_REMOTE_IRR))
			continue;
		io->rte[pin] &= ~RTE_REMOTE_IRR;
		if (asserted(io, pin))
			d[pin] = route(io, pin);
	}
	pthread_mutex_unlock(&io->lock);
	for (unsigned int pin = 0; pin < IOAPIC_PINS; pin++)
		send(io, d[pin]);
}
