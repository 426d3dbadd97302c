/*
 * A local APIC in xAPIC mode for one vCPU: the register page, fixed
 * interrupts through IRR and ISR with task and processor priority, EOI
 * (handed to the IOAPIC for level-triggered vectors), self IPIs, and the
 * timer (one-shot and periodic, divide 1-128 of a 1 GHz bus clock, as KVM
 * models it, so guests calibrate the same). The timer is computed from the
 * clock when looked at: the vCPU asks lapic_pending() between instruction
 * blocks and sleeps until lapic_next_event() in HLT, so nothing runs on a
 * timer thread. Not modelled yet: IPIs to other CPUs, INIT/SIPI, NMI and
 * ExtINT delivery, TSC-deadline mode, x2APIC.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spry/irqchip.h"

enum {
	REG_ID = 0x20, REG_VERSION = 0x30, REG_TPR = 0x80, REG_APR = 0x90, REG_PPR = 0xa0,
	REG_EOI = 0xb0, REG_LDR = 0xd0, REG_DFR = 0xe0, REG_SVR = 0xf0, REG_ISR = 0x100,
	REG_TMR = 0x180, REG_IRR = 0x200, REG_ESR = 0x280, REG_LVT_CMCI = 0x2f0,
	REG_ICR_LO = 0x300, REG_ICR_HI = 0x310, REG_LVT_TIMER = 0x320,
	REG_LVT_ERROR = 0x370, REG_TIMER_INIT = 0x380, REG_TIMER_CUR = 0x390,
	REG_TIMER_DIV = 0x3e0,
};

#define VERSION		0x00050014	/* integrated APIC, 6 LVT entries */
#define SVR_ENABLE	0x100
#define LVT_MASKED	(1u << 16)
#define LVT_PERIODIC	(1u << 17)
#define LVT_COUNT	7		/* CMCI, timer, thermal, perf, LINT0, LINT1, error */
#define ICR_SHORTHAND(v) (((v) >> 18) & 3)
#define ICR_DELIVERY(v)	(((v) >> 8) & 7)
#define ICR_LEVEL	(1u << 15)
#define SHORTHAND_SELF	1
#define ESR_SEND_ILLEGAL 0x20
#define ESR_RECV_ILLEGAL 0x40
#define NO_EVENT	INT64_MAX

struct lapic {
	pthread_mutex_t lock;
	struct lapic_ops ops;
	void *opaque;
	uint32_t id, tpr, ldr, dfr, svr, icr_lo, icr_hi;
	uint32_t esr, esr_pending;	/* errors show in ESR once a write to it latches them */
	uint32_t lvt[LVT_COUNT];
	uint32_t irr[8], isr[8], tmr[8];
	uint32_t timer_init, timer_div;
	int64_t timer_start, timer_next;	/* clock ns; timer_next NO_EVENT when idle */
};

static int64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The LVT index of register @offset (0x2f0, then 0x320-0x370), or -1. */
static int lvt_index(uint32_t offset)
{
	if (offset == REG_LVT_CMCI)
		return 0;
	if (offset >= REG_LVT_TIMER && offset <= REG_LVT_ERROR)
		return 1 + (offset - REG_LVT_TIMER) / 0x10;
	return -1;
}

#define LVT_TIMER 1

static bool enabled(const struct lapic *l)
{
	return l->svr & SVR_ENABLE;
}

/* The highest vector set in a 256-bit register, or -1. */
static int highest(const uint32_t r[8])
{
	for (int i = 7; i >= 0; i--)
		if (r[i])
			return i * 32 + 31 - __builtin_clz(r[i]);
	return -1;
}

/*
 * @r is a 256-bit register as uint32_t[8]; a plain pointer, since GCC 12 with
 * -fsanitize=address,undefined misreads the array bound after inlining.
 */
static void bit_set(uint32_t *r, int v, bool on)
{
	if (on)
		r[v / 32] |= 1u << (v % 32);
	else
		r[v / 32] &= ~(1u << (v % 32));
}

static bool bit_test(const uint32_t r[8], int v)
{
	return r[v / 32] >> (v % 32) & 1;
}

static uint32_t ppr(const struct lapic *l)
{
	int isrv = highest(l->isr);

	if (isrv < 0 || (l->tpr & 0xf0) >= ((uint32_t)isrv & 0xf0))
		return l->tpr & 0xff;
	return isrv & 0xf0;
}

/* Bus clock ticks per timer count: 2, 4, ... 128, or 1 for the value 0b1011. */
static int64_t timer_divisor(const struct lapic *l)
{
	uint32_t v = (l->timer_div & 3) | (l->timer_div & 8) >> 1;

	return v == 7 ? 1 : 2LL << v;
}

static int64_t timer_period(const struct lapic *l)
{
	return (int64_t)l->timer_init * timer_divisor(l);
}

/* Accept @vector into IRR; false when it is illegal (0-15) or the APIC is off. */
static bool accept(struct lapic *l, int vector, bool level)
{
	if (vector < 16) {
		l->esr_pending |= ESR_RECV_ILLEGAL;
		return false;
	}
	if (!enabled(l))
		return false;
	bit_set(l->irr, vector, true);
	bit_set(l->tmr, vector, level);
	return true;
}

/* Fire the timer for every expiry up to @now (periodic expiries coalesce, as in IRR). */
static void timer_catch_up(struct lapic *l, int64_t now)
{
	uint32_t lvt = l->lvt[LVT_TIMER];
	int64_t period;

	if (now < l->timer_next)
		return;
	if (!(lvt & LVT_MASKED))
		accept(l, lvt & 0xff, false);
	period = timer_period(l);
	if ((lvt & LVT_PERIODIC) && period > 0)
		l->timer_next += ((now - l->timer_next) / period + 1) * period;
	else
		l->timer_next = NO_EVENT;
}

static uint32_t timer_current(const struct lapic *l, int64_t now)
{
	int64_t period = timer_period(l), elapsed = now - l->timer_start;

	if (!l->timer_init || period <= 0 || elapsed < 0)
		return l->timer_init;
	if (l->lvt[LVT_TIMER] & LVT_PERIODIC)
		elapsed %= period;
	else if (elapsed >= period)
		return 0;
	return l->timer_init - (uint32_t)(elapsed / timer_divisor(l));
}

static void timer_start(struct lapic *l, uint32_t count)
{
	l->timer_init = count;
	l->timer_start = l->ops.clock_ns();
	l->timer_next = count ? l->timer_start + timer_period(l) : NO_EVENT;
}

static void reset(struct lapic *l)
{
	l->tpr = l->ldr = l->esr = l->esr_pending = l->icr_lo = l->icr_hi = 0;
	l->dfr = 0xffffffff;
	l->svr = 0xff;
	for (int i = 0; i < LVT_COUNT; i++)
		l->lvt[i] = LVT_MASKED;
	memset(l->irr, 0, sizeof(l->irr));
	memset(l->isr, 0, sizeof(l->isr));
	memset(l->tmr, 0, sizeof(l->tmr));
	l->timer_init = l->timer_div = 0;
	l->timer_next = NO_EVENT;
}

struct lapic *lapic_new(uint32_t apic_id, const struct lapic_ops *ops, void *opaque)
{
	struct lapic *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	l->ops = *ops;
	if (!l->ops.clock_ns)
		l->ops.clock_ns = monotonic_ns;
	l->opaque = opaque;
	l->id = apic_id;
	reset(l);
	return l;
}

void lapic_free(struct lapic *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static uint32_t read_reg(struct lapic *l, uint32_t offset)
{
	int lvt = lvt_index(offset);

	if (lvt >= 0)
		return l->lvt[lvt];
	if (offset >= REG_ISR && offset < REG_IRR + 0x80) {
		const uint32_t *r = offset < REG_TMR ? l->isr : offset < REG_IRR ? l->tmr : l->irr;

		return r[(offset & 0x7f) / 0x10];
	}
	switch (offset) {
	case REG_ID: return l->id << 24;
	case REG_VERSION: return VERSION;
	case REG_TPR: return l->tpr;
	case REG_PPR: return ppr(l);
	case REG_LDR: return l->ldr;
	case REG_DFR: return l->dfr;
	case REG_SVR: return l->svr;
	case REG_ESR: return l->esr;
	case REG_ICR_LO: return l->icr_lo;	/* delivery status: always idle */
	case REG_ICR_HI: return l->icr_hi;
	case REG_TIMER_INIT: return l->timer_init;
	case REG_TIMER_CUR: return timer_current(l, l->ops.clock_ns());
	case REG_TIMER_DIV: return l->timer_div;
	default: return 0;	/* APR, arbitration, reserved */
	}
}

/* An IPI: only fixed interrupts to this APIC itself for now. */
static bool send_ipi(struct lapic *l, uint32_t lo)
{
	bool self = ICR_SHORTHAND(lo) == SHORTHAND_SELF ||
		    (ICR_SHORTHAND(lo) == 0 && !(lo & (1u << 11)) && (l->icr_hi >> 24) == l->id);

	if (ICR_DELIVERY(lo) != 0 || !self)
		return false;
	if ((lo & 0xff) < 16) {
		l->esr_pending |= ESR_SEND_ILLEGAL;
		return false;
	}
	return accept(l, lo & 0xff, false);
}

/* Returns the vector whose EOI must reach the IOAPIC, or -1. */
static int eoi(struct lapic *l)
{
	int v = highest(l->isr);

	if (v < 0)
		return -1;
	bit_set(l->isr, v, false);
	return bit_test(l->tmr, v) ? v : -1;
}

static bool write_reg(struct lapic *l, uint32_t offset, uint32_t v, int *eoi_vector)
{
	int lvt = lvt_index(offset);

	if (lvt >= 0) {
		static const uint32_t writable[LVT_COUNT] = {
			0x107ff, 0x300ff, 0x107ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff,
		};

		v &= writable[lvt];
		if (!enabled(l))
			v |= LVT_MASKED;
		if (lvt == LVT_TIMER && (v ^ l->lvt[lvt]) & LVT_PERIODIC) {
			l->lvt[lvt] = v;
			timer_start(l, l->timer_init);	/* a mode change restarts the count */
		}
		l->lvt[lvt] = v;
		return false;
	}
	switch (offset) {
	case REG_ID: l->id = v >> 24; break;
	case REG_TPR: l->tpr = v & 0xff; break;
	case REG_EOI: *eoi_vector = eoi(l); break;
	case REG_LDR: l->ldr = v & 0xff000000; break;
	case REG_DFR: l->dfr = v | 0x0fffffff; break;
	case REG_SVR:
		l->svr = v & 0x3ff;
		if (!enabled(l))
			for (int i = 0; i < LVT_COUNT; i++)
				l->lvt[i] |= LVT_MASKED;
		break;
	case REG_ESR:
		l->esr = l->esr_pending;
		l->esr_pending = 0;
		break;
	case REG_ICR_HI: l->icr_hi = v & 0xff000000; break;
	case REG_ICR_LO:
		l->icr_lo = v & ~(1u << 12);
		return send_ipi(l, v);
	case REG_TIMER_INIT: timer_start(l, v); break;
	case REG_TIMER_DIV: l->timer_div = v & 0xb; break;
	default: break;		/* read-only or reserved */
	}
	return false;
}

uint32_t lapic_read(struct lapic *l, uint32_t offset)
{
	uint32_t v;

	pthread_mutex_lock(&l->lock);
	timer_catch_up(l, l->ops.clock_ns());
	v = read_reg(l, offset & 0xff0);
	pthread_mutex_unlock(&l->lock);
	return v;
}

void lapic_write(struct lapic *l, uint32_t offset, uint32_t v)
{
	int eoi_vector = -1;
	bool kick;

	pthread_mutex_lock(&l->lock);
	kick = write_reg(l, offset & 0xff0, v, &eoi_vector);
	pthread_mutex_unlock(&l->lock);
	/* Outside the lock: the IOAPIC may deliver straight back to this APIC. */
	if (eoi_vector >= 0 && l->ops.eoi)
		l->ops.eoi(l->opaque, eoi_vector);
	if (kick && l->ops.kick)
		l->ops.kick(l->opaque);
}

void lapic_set_irq(struct lapic *l, uint8_t vector, bool level)
{
	bool kick;

	pthread_mutex_lock(&l->lock);
	kick = accept(l, vector, level);
	pthread_mutex_unlock(&l->lock);
	if (kick && l->ops.kick)
		l->ops.kick(l->opaque);
}

bool lapic_match(struct lapic *l, uint8_t dest, bool logical)
{
	bool match;

	pthread_mutex_lock(&l->lock);
	if (!logical)
		match = dest == 0xff || dest == l->id;
	else if ((l->dfr >> 28) == 0xf)	/* flat model: a bit per APIC */
		match = dest & (l->ldr >> 24);
	else				/* cluster model: cluster in the high nibble */
		match = (dest >> 4) == (l->ldr >> 28) && (dest & (l->ldr >> 24) & 0xf);
	pthread_mutex_unlock(&l->lock);
	return match;
}

int lapic_pending(struct lapic *l)
{
	int v;

	pthread_mutex_lock(&l->lock);
	timer_catch_up(l, l->ops.clock_ns());
	v = highest(l->irr);
	if (!enabled(l) || v < 0 || ((uint32_t)v & 0xf0) <= (ppr(l) & 0xf0))
		v = -1;
	pthread_mutex_unlock(&l->lock);
	return v;
}

void lapic_ack(struct lapic *l, int vector)
{
	pthread_mutex_lock(&l->lock);
	bit_set(l->irr, vector, false);
	bit_set(l->isr, vector, true);
	pthread_mutex_unlock(&l->lock);
}

int64_t lapic_next_event(struct lapic *l)
{
	int64_t t;

	pthread_mutex_lock(&l->lock);
	t = l->lvt[LVT_TIMER] & LVT_MASKED ? NO_EVENT : l->timer_next;
	pthread_mutex_unlock(&l->lock);
	return t;
}
