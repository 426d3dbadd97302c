/*
 * The i8254 programmable interval timer at ports 0x40-0x43, for accelerators
 * without one of their own (KVM's in-kernel PIT serves those ports there).
 * The counters run off the host's monotonic clock at 1.193182 MHz and are
 * computed when read, so an idle PIT costs nothing: modes 0-5, low/high/both
 * byte access, the counter-latch and read-back commands, and the OUT pins in
 * the status byte. Gates are high (port 0x61, which drives channel 2's gate
 * on a PC, stays with the i8042's range until the speaker port is modelled),
 * so the one-shot modes 1 and 5 start counting when loaded. BCD counting is
 * accepted and counts in binary.
 *
 * IRQ 0: a thread sleeps until channel 0's OUT next rises (pit_irq_due())
 * and raises an edge on the PIT's GSI; periods it slept through coalesce
 * into one, as a real interrupt line's edges would while masked.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spry/devices.h"
#include "spry/layout.h"
#include "spry/log.h"
#include "spry/pit.h"
#include "spry/util.h"

#define PIT_HZ		1193182ULL
#define NS_PER_SEC	1000000000ULL

/* Control word fields (port 0x43). */
#define CW_BCD		0x01
#define CW_MODE(v)	(((v) >> 1) & 7)
#define CW_ACCESS(v)	(((v) >> 4) & 3)	/* 0: latch command */
#define CW_CHANNEL(v)	((v) >> 6)		/* 3: read-back */
#define RB_NO_COUNT	0x20
#define RB_NO_STATUS	0x10
#define STATUS_OUT	0x80
#define STATUS_NULL	0x40

enum { ACCESS_LATCH, ACCESS_LO, ACCESS_HI, ACCESS_LOHI };

struct pit_channel {
	uint8_t control;	/* access, mode and BCD bits as the status byte shows them */
	uint32_t reload;	/* 1-65536 */
	int64_t start_ns;	/* when the current count was loaded */
	bool loaded;		/* a count was written since the mode was set */
	bool write_hi;		/* lo/hi access: the next write is the high byte */
	bool read_hi;		/* lo/hi access: the next read is the high byte */
	uint8_t write_lo;	/* the low byte, until the high byte arrives */
	bool count_latched, status_latched, latch_hi;
	uint16_t latch;
	uint8_t status;
};

struct pit {
	int64_t (*clock_ns)(void);
	pthread_mutex_t lock;
	struct pit_channel ch[3];
	uint64_t edges;		/* channel 0 OUT rising edges reported since its load */
	/* The IRQ 0 thread, once pit_irq_start() ran. */
	void (*raise)(void *opaque);
	void *opaque;
	pthread_t thread;
	pthread_cond_t changed;	/* channel 0 was reprogrammed, or quit */
	bool thread_running, quit;
};

static int64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int mode_of(const struct pit_channel *c)
{
	int m = CW_MODE(c->control);

	return m > 5 ? m - 4 : m;	/* 6 and 7 are 2 and 3 */
}

/* Input clock ticks since the count was loaded. */
static uint64_t ticks(const struct pit *p, const struct pit_channel *c)
{
	int64_t ns = p->clock_ns() - c->start_ns;

	if (ns <= 0)
		return 0;
	return (uint64_t)ns / NS_PER_SEC * PIT_HZ + (uint64_t)ns % NS_PER_SEC * PIT_HZ / NS_PER_SEC;
}

/* The counting element now: counting down from the reload value, per mode. */
static uint16_t count_now(const struct pit *p, const struct pit_channel *c)
{
	uint64_t t;

	if (!c->loaded)
		return 0;
	t = ticks(p, c);
	switch (mode_of(c)) {
	case 2:
		return c->reload - t % c->reload;
	case 3:		/* counts down by two, twice per period */
		return (c->reload - 2 * (t % ((c->reload + 1) / 2))) & 0xfffe;
	default:	/* 0, 1, 4, 5: once through, then wrapping past zero */
		return (uint16_t)(c->reload - t);
	}
}

static bool out_now(const struct pit *p, const struct pit_channel *c)
{
	uint64_t t;

	if (!c->loaded)
		return mode_of(c) != 0;	/* mode 0 drives OUT low from the control word */
	t = ticks(p, c);
	switch (mode_of(c)) {
	case 0: case 1:
		return t >= c->reload;
	case 2:
		return t % c->reload != c->reload - 1;
	case 3:
		return t % c->reload < (c->reload + 1) / 2;
	default:	/* 4, 5: one low tick at the terminal count */
		return t != c->reload;
	}
}

static void channel0_changed(struct pit *p, struct pit_channel *c)
{
	if (c != &p->ch[0])
		return;
	p->edges = 0;
	if (p->thread_running)
		pthread_cond_signal(&p->changed);
}

static void set_control(struct pit_channel *c, uint8_t v)
{
	c->control = v & 0x3f;
	c->loaded = c->write_hi = c->read_hi = false;
	c->count_latched = c->status_latched = false;
}

static void latch_count(struct pit *p, struct pit_channel *c)
{
	if (c->count_latched)
		return;		/* a second latch before the read is ignored */
	c->latch = count_now(p, c);
	c->count_latched = true;
	c->latch_hi = false;
}

static void latch_status(struct pit *p, struct pit_channel *c)
{
	if (c->status_latched)
		return;
	c->status = (out_now(p, c) ? STATUS_OUT : 0) | (c->loaded ? 0 : STATUS_NULL) | c->control;
	c->status_latched = true;
}

static void write_control(struct pit *p, uint8_t v)
{
	int i = CW_CHANNEL(v);

	if (i == 3) {
		for (i = 0; i < 3; i++) {
			if (!(v & (2 << i)))
				continue;
			if (!(v & RB_NO_STATUS))
				latch_status(p, &p->ch[i]);
			if (!(v & RB_NO_COUNT))
				latch_count(p, &p->ch[i]);
		}
	} else if (CW_ACCESS(v) == ACCESS_LATCH) {
		latch_count(p, &p->ch[i]);
	} else {
		set_control(&p->ch[i], v);
		channel0_changed(p, &p->ch[i]);
	}
}

static void load(struct pit *p, struct pit_channel *c, uint16_t count)
{
	c->reload = count ? count : 65536;
	c->start_ns = p->clock_ns();
	c->loaded = true;
	channel0_changed(p, c);
}

static void write_counter(struct pit *p, struct pit_channel *c, uint8_t v)
{
	switch (CW_ACCESS(c->control)) {
	case ACCESS_LO:
		load(p, c, v);
		break;
	case ACCESS_HI:
		load(p, c, v << 8);
		break;
	case ACCESS_LOHI:
		if (!c->write_hi) {
			c->write_lo = v;
			c->write_hi = true;
		} else {
			c->write_hi = false;
			load(p, c, c->write_lo | v << 8);
		}
		break;
	default:	/* no access mode programmed yet */
		break;
	}
}

/* One byte of @v for the channel's access mode; *@hi toggles for lo/hi. */
static uint8_t byte_of(const struct pit_channel *c, uint16_t v, bool *hi)
{
	switch (CW_ACCESS(c->control)) {
	case ACCESS_HI:
		return v >> 8;
	case ACCESS_LOHI:
		*hi = !*hi;
		return *hi ? v & 0xff : v >> 8;
	default:
		return v & 0xff;
	}
}

static uint8_t read_counter(struct pit *p, struct pit_channel *c)
{
	uint8_t v;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->count_latched) {
		v = byte_of(c, c->latch, &c->latch_hi);
		if (CW_ACCESS(c->control) != ACCESS_LOHI || !c->latch_hi)
			c->count_latched = false;
		return v;
	}
	return byte_of(c, count_now(p, c), &c->read_hi);
}

uint8_t pit_read(struct pit *p, unsigned int port)
{
	uint8_t v = 0xff;	/* the control port reads as nothing */

	pthread_mutex_lock(&p->lock);
	if (port < 3)
		v = read_counter(p, &p->ch[port]);
	pthread_mutex_unlock(&p->lock);
	return v;
}

void pit_write(struct pit *p, unsigned int port, uint8_t v)
{
	pthread_mutex_lock(&p->lock);
	if (port == 3)
		write_control(p, v);
	else if (port < 3)
		write_counter(p, &p->ch[port], v);
	pthread_mutex_unlock(&p->lock);
}

/* Clock nanoseconds at which @t input ticks after @c's load have passed. */
static int64_t tick_time(const struct pit_channel *c, uint64_t t)
{
	return c->start_ns + (int64_t)(t / PIT_HZ * NS_PER_SEC +
				       (t % PIT_HZ * NS_PER_SEC + PIT_HZ - 1) / PIT_HZ);
}

/*
 * Tick of channel 0's rising OUT edge number @n (1-based) since its load:
 * every period in modes 2 and 3, once in the others; 0 when there is none.
 */
static uint64_t edge_tick(const struct pit_channel *c, uint64_t n)
{
	switch (mode_of(c)) {
	case 2: case 3:
		return n * c->reload;
	case 0: case 1:
		return n == 1 ? c->reload : 0;
	default:	/* 4, 5: OUT returns high a tick after the strobe */
		return n == 1 ? c->reload + 1 : 0;
	}
}

int64_t pit_irq_due(struct pit *p)
{
	struct pit_channel *c = &p->ch[0];
	uint64_t next, t, n;
	int64_t due;

	if (!c->loaded || !(next = edge_tick(c, p->edges + 1)))
		return INT64_MAX;
	due = tick_time(c, next);
	if (p->clock_ns() < due)
		return due;
	t = ticks(p, c);
	n = mode_of(c) == 2 || mode_of(c) == 3 ? t / c->reload : 1;
	p->edges = n > p->edges ? n : p->edges + 1;
	return 0;
}

static void *irq_thread(void *opaque)
{
	struct pit *p = opaque;

	pthread_mutex_lock(&p->lock);
	while (!p->quit) {
		int64_t due = pit_irq_due(p);
		struct timespec ts = { due / NS_PER_SEC, due % NS_PER_SEC };

		if (due == 0) {
			pthread_mutex_unlock(&p->lock);
			p->raise(p->opaque);
			pthread_mutex_lock(&p->lock);
		} else if (due == INT64_MAX) {
			pthread_cond_wait(&p->changed, &p->lock);
		} else {
			pthread_cond_timedwait(&p->changed, &p->lock, &ts);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int pit_irq_start(struct pit *p, void (*raise)(void *opaque), void *opaque)
{
	pthread_condattr_t attr;
	int err;

	p->raise = raise;
	p->opaque = opaque;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	err = pthread_cond_init(&p->changed, &attr);
	pthread_condattr_destroy(&attr);
	if (err)
		return -err;
	err = pthread_create(&p->thread, NULL, irq_thread, p);
	if (err) {
		pthread_cond_destroy(&p->changed);
		return -err;
	}
	p->thread_running = true;
	return 0;
}

struct pit *pit_new(int64_t (*clock_ns)(void))
{
	struct pit *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->clock_ns = clock_ns ? clock_ns : monotonic_ns;
	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void pit_free(struct pit *p)
{
	if (!p)
		return;
	if (p->thread_running) {
		pthread_mutex_lock(&p->lock);
		p->quit = true;
		pthread_cond_signal(&p->changed);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
		pthread_cond_destroy(&p->changed);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* ---- on the port bus ---- */

struct pit_device {
	struct bus_device dev;
	struct pit *pit;
	struct vm *vm;
};

/* An edge on the PIT's GSI: ISA IRQ 0, which a PC wires to IOAPIC pin 2. */
static void raise_irq0(void *opaque)
{
	struct pit_device *d = opaque;

	vm_irq_line(d->vm, SPRY_GSI_PIT, 1);
	vm_irq_line(d->vm, SPRY_GSI_PIT, 0);
}

static void pit_bus_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct pit_device *d = opaque;

	(void)len;
	*(uint8_t *)data = pit_read(d->pit, off);
}

static void pit_bus_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct pit_device *d = opaque;

	(void)len;
	pit_write(d->pit, off, *(const uint8_t *)data);
}

static void pit_bus_destroy(struct bus_device *dev)
{
	struct pit_device *d = container_of(dev, struct pit_device, dev);

	pit_free(d->pit);
	free(d);
}

int pit_init(struct vm *vm)
{
	struct pit_device *d = calloc(1, sizeof(*d));
	int err;

	if (d)
		d->pit = pit_new(NULL);
	if (!d || !d->pit) {
		free(d);
		spry_err("pit: out of memory");
		return -1;
	}
	d->vm = vm;
	d->dev = (struct bus_device){
		.name = "pit", .base = SPRY_PORT_PIT, .size = 4, .opaque = d,
		.read = pit_bus_read, .write = pit_bus_write, .destroy = pit_bus_destroy,
	};
	err = pit_irq_start(d->pit, raise_irq0, d);
	if (err) {
		spry_err("pit: cannot start its interrupt thread: %s", strerror(-err));
		pit_bus_destroy(&d->dev);
		return -1;
	}
	err = bus_register(&vm->pio, &d->dev);
	if (err) {
		spry_err("pit: cannot place at port 0x%x: %s", SPRY_PORT_PIT, strerror(-err));
		pit_bus_destroy(&d->dev);
		return -1;
	}
	return 0;
}
