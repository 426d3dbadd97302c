/*
 * Split virtqueues driven like a driver would, on real guest memory: chains
 * that must come out as iovecs inside RAM, and a table of malformed rings and
 * chains that must each be refused with a reason and without side effects.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "spry/layout.h"
#include "spry/memory.h"
#include "spry/virtqueue.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Where the "driver" puts things, in a 2 MiB guest or in a 3 GiB + 4 KiB one. */
#define RAM		(2ULL << 20)
#define BIG_RAM		(SPRY_MMIO_HOLE_START + 4096)
#define HOLE		SPRY_MMIO_HOLE_START
#define HIGH		SPRY_HIGH_RAM_START
#define DESC		0x1000ULL	/* up to 256 descriptors */
#define AVAIL		0x2000ULL
#define USED		0x3000ULL
#define IND		0x8000ULL	/* indirect table */
#define BUF		0x10000ULL	/* data buffers */

#define NEXT		VIRTQ_DESC_F_NEXT
#define WRITE		VIRTQ_DESC_F_WRITE
#define INDIRECT	VIRTQ_DESC_F_INDIRECT

/* Descriptors: readable / writable, last or with a next, and an indirect table. */
#define R(a, l)		{ .addr = (a), .len = (l) }
#define RN(a, l, n)	{ .addr = (a), .len = (l), .flags = NEXT, .next = (n) }
#define W(a, l)		{ .addr = (a), .len = (l), .flags = WRITE }
#define WN(a, l, n)	{ .addr = (a), .len = (l), .flags = WRITE | NEXT, .next = (n) }
#define I(a, l)		{ .addr = (a), .len = (l), .flags = INDIRECT }

struct fx {
	struct guest_memory gm;
	struct virtq vq;
	uint16_t avail;		/* the driver's avail idx */
};

/* ---- the driver's side ---- */

static void poke(struct fx *f, uint64_t gpa, const void *p, size_t n)
{
	assert_true(guest_write(&f->gm, gpa, p, n));
}

static void put16(struct fx *f, uint64_t gpa, uint16_t v)
{
	poke(f, gpa, &v, sizeof(v));
}

static uint16_t get16(struct fx *f, uint64_t gpa)
{
	uint16_t v;

	assert_true(guest_read(&f->gm, gpa, &v, sizeof(v)));
	return v;
}

static void set_desc(struct fx *f, uint64_t table, unsigned int i, struct virtq_desc d)
{
	poke(f, table + 16ULL * i, &d, sizeof(d));
}

static void fx_init(struct fx *f, uint64_t ram)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(guest_memory_init(&f->gm, ram), 0);
}

static void configure(struct fx *f, uint16_t size)
{
	f->vq.size = size;
	f->vq.desc_gpa = DESC;
	f->vq.avail_gpa = AVAIL;
	f->vq.used_gpa = USED;
	f->avail = 0;
}

static int start_queue(struct fx *f, uint16_t size)
{
	configure(f, size);
	return virtq_enable(&f->vq, &f->gm, VIRTQ_MAX_SIZE);
}

/* Make chain @head available, as a driver does: ring entry, then the index. */
static void offer(struct fx *f, uint16_t head)
{
	put16(f, AVAIL + 4 + 2ULL * (f->avail % f->vq.size), head);
	f->avail++;
	put16(f, AVAIL + 2, f->avail);
}

static uint16_t used_idx(struct fx *f)
{
	return get16(f, USED + 2);
}

static struct virtq_used_elem used_elem(struct fx *f, unsigned int slot)
{
	struct virtq_used_elem e;

	assert_true(guest_read(&f->gm, USED + 4 + 8ULL * slot, &e, sizeof(e)));
	return e;
}

static void assert_chain_in_ram(struct fx *f, const struct virtq_chain *c)
{
	const uintptr_t lo = (uintptr_t)f->gm.base, hi = lo + f->gm.ram_size;

	assert_true(c->nread + c->nwrite <= VIRTQ_MAX_SIZE);
	for (unsigned int i = 0; i < c->nread + c->nwrite; i++) {
		uintptr_t b = (uintptr_t)c->iov[i].iov_base;

		assert_true(b >= lo && b < hi);
		assert_true(c->iov[i].iov_len <= hi - b);
	}
}

/* The host address the device must hand out for @gpa in a small guest. */
static void *host(struct fx *f, uint64_t gpa)
{
	return f->gm.base + gpa;
}

static int fx_setup(void **state)
{
	struct fx *f = malloc(sizeof(*f));

	assert_non_null(f);
	fx_init(f, RAM);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	guest_memory_destroy(&f->gm);
	free(f);
	return 0;
}

/* ---- chains that must come out right ---- */

static void empty_queue_gives_nothing(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;

	assert_int_equal(start_queue(f, 8), 0);
	assert_string_equal(f->vq.error, "");
	assert_false(virtq_has_work(&f->vq));
	assert_int_equal(virtq_pop(&f->vq, &c), 0);
	assert_int_equal(f->vq.last_avail, 0);
}

static void single_readable_buffer(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;

	assert_int_equal(start_queue(f, 8), 0);
	set_desc(f, DESC, 3, (struct virtq_desc)R(BUF, 512));
	offer(f, 3);
	assert_true(virtq_has_work(&f->vq));
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
	assert_int_equal(c.head, 3);
	assert_int_equal(c.nread, 1);
	assert_int_equal(c.nwrite, 0);
	assert_ptr_equal(c.iov[0].iov_base, host(f, BUF));
	assert_int_equal(c.iov[0].iov_len, 512);
	assert_int_equal(c.read_len, 512);
	assert_int_equal(c.write_len, 0);
	assert_int_equal(f->vq.last_avail, 1);
	assert_false(virtq_has_work(&f->vq));
	assert_int_equal(virtq_pop(&f->vq, &c), 0);
}

static void readable_then_writable_split(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;

	assert_int_equal(start_queue(f, 8), 0);
	/* Chains follow next in any order: 5 -> 2 -> 7 -> 0 -> 6. */
	set_desc(f, DESC, 5, (struct virtq_desc)RN(BUF, 16, 2));
	set_desc(f, DESC, 2, (struct virtq_desc)RN(BUF + 0x100, 100, 7));
	set_desc(f, DESC, 7, (struct virtq_desc)RN(BUF + 0x200, 4000, 0));
	set_desc(f, DESC, 0, (struct virtq_desc)WN(BUF + 0x2000, 8192, 6));
	set_desc(f, DESC, 6, (struct virtq_desc)W(BUF + 0x5000, 1));
	offer(f, 5);
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
	assert_int_equal(c.head, 5);
	assert_int_equal(c.nread, 3);
	assert_int_equal(c.nwrite, 2);
	assert_int_equal(c.read_len, 16 + 100 + 4000);
	assert_int_equal(c.write_len, 8192 + 1);
	assert_ptr_equal(c.iov[0].iov_base, host(f, BUF));
	assert_ptr_equal(c.iov[1].iov_base, host(f, BUF + 0x100));
	assert_ptr_equal(c.iov[2].iov_base, host(f, BUF + 0x200));
	assert_ptr_equal(c.iov[3].iov_base, host(f, BUF + 0x2000));
	assert_ptr_equal(c.iov[4].iov_base, host(f, BUF + 0x5000));
	assert_int_equal(c.iov[2].iov_len, 4000);
	assert_int_equal(c.iov[4].iov_len, 1);
	assert_chain_in_ram(f, &c);
}

static void writable_only_chain(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;

	assert_int_equal(start_queue(f, 8), 0);
	set_desc(f, DESC, 0, (struct virtq_desc)WN(BUF, 64, 1));
	set_desc(f, DESC, 1, (struct virtq_desc)W(RAM - 64, 64));	/* last bytes of RAM */
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
	assert_int_equal(c.nread, 0);
	assert_int_equal(c.nwrite, 2);
	assert_int_equal(c.write_len, 128);
	assert_ptr_equal(c.iov[1].iov_base, host(f, RAM - 64));
	assert_chain_in_ram(f, &c);
}

static void indirect_tables(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;

	f->vq.indirect = true;
	assert_int_equal(start_queue(f, 8), 0);
	set_desc(f, IND, 0, (struct virtq_desc)RN(BUF, 48, 2));
	set_desc(f, IND, 2, (struct virtq_desc)WN(BUF + 0x1000, 512, 1));
	set_desc(f, IND, 1, (struct virtq_desc)W(BUF + 0x2000, 1));
	/* The WRITE flag of the descriptor naming a table is ignored (2.7.5.3.2). */
	set_desc(f, DESC, 4, (struct virtq_desc){ IND, 3 * 16, INDIRECT | WRITE, 0 });
	offer(f, 4);
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
	assert_int_equal(c.head, 4);
	assert_int_equal(c.nread, 1);
	assert_int_equal(c.nwrite, 2);
	assert_int_equal(c.read_len, 48);
	assert_int_equal(c.write_len, 513);
	assert_ptr_equal(c.iov[0].iov_base, host(f, BUF));
	assert_ptr_equal(c.iov[1].iov_base, host(f, BUF + 0x1000));
	assert_ptr_equal(c.iov[2].iov_base, host(f, BUF + 0x2000));

	/* Normal descriptors may come before the one naming a table. */
	set_desc(f, DESC, 0, (struct virtq_desc)RN(BUF + 0x3000, 10, 1));
	set_desc(f, DESC, 1, (struct virtq_desc)I(IND, 3 * 16));
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
	assert_int_equal(c.nread, 2);
	assert_int_equal(c.nwrite, 2);
	assert_ptr_equal(c.iov[0].iov_base, host(f, BUF + 0x3000));
	assert_ptr_equal(c.iov[1].iov_base, host(f, BUF));
	assert_chain_in_ram(f, &c);
}

static void largest_indirect_table_in_smallest_queue(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;

	f->vq.indirect = true;
	assert_int_equal(start_queue(f, 1), 0);
	for (unsigned int i = 0; i < VIRTQ_MAX_SIZE; i++)
		set_desc(f, IND, i, (struct virtq_desc)RN(BUF + 16 * i, 16, i + 1));
	set_desc(f, IND, VIRTQ_MAX_SIZE - 1, (struct virtq_desc)W(BUF, 16));
	set_desc(f, DESC, 0, (struct virtq_desc)I(IND, 16 * VIRTQ_MAX_SIZE));
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
	assert_int_equal(c.nread, VIRTQ_MAX_SIZE - 1);
	assert_int_equal(c.nwrite, 1);
	assert_ptr_equal(c.iov[100].iov_base, host(f, BUF + 1600));
	assert_chain_in_ram(f, &c);
}

static void push_fills_used_ring(void **state)
{
	struct fx *f = *state;
	struct virtq_chain a, b;

	assert_int_equal(start_queue(f, 8), 0);
	set_desc(f, DESC, 0, (struct virtq_desc)R(BUF, 16));
	set_desc(f, DESC, 3, (struct virtq_desc)W(BUF, 16));
	offer(f, 0);
	offer(f, 3);
	assert_int_equal(virtq_pop(&f->vq, &a), 1);
	assert_int_equal(virtq_pop(&f->vq, &b), 1);
	assert_int_equal(used_idx(f), 0);
	/* Completion order is the device's choice. */
	virtq_push(&f->vq, b.head, 10);
	assert_int_equal(used_idx(f), 1);
	virtq_push(&f->vq, a.head, 0);
	assert_int_equal(used_idx(f), 2);
	assert_int_equal(used_elem(f, 0).id, 3);
	assert_int_equal(used_elem(f, 0).len, 10);
	assert_int_equal(used_elem(f, 1).id, 0);
	assert_int_equal(used_elem(f, 1).len, 0);
}

/* Carry the queue through 65533 chains, then six across the 16-bit wrap. */
static void indexes_wrap_around(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;

	f->vq.event_idx = true;
	assert_int_equal(start_queue(f, 8), 0);
	set_desc(f, DESC, 0, (struct virtq_desc)R(BUF, 16));
	for (unsigned int i = 0; i < 65533; i++) {
		offer(f, 0);
		assert_int_equal(virtq_pop(&f->vq, &c), 1);
		virtq_push(&f->vq, 0, 1);
	}
	assert_int_equal(used_idx(f), 65533);
	assert_true(virtq_needs_interrupt(&f->vq));	/* the first is always due */
	put16(f, AVAIL + 4 + 2 * 8, 65534);		/* used_event */

	for (unsigned int i = 0; i < 6; i++) {
		set_desc(f, DESC, i + 1, (struct virtq_desc)W(BUF + 64 * i, 64));
		offer(f, i + 1);
	}
	assert_int_equal(get16(f, AVAIL + 2), 3);
	for (unsigned int i = 0; i < 6; i++) {
		assert_int_equal(virtq_pop(&f->vq, &c), 1);
		assert_int_equal(c.head, i + 1);
		assert_ptr_equal(c.iov[0].iov_base, host(f, BUF + 64 * i));
		virtq_push(&f->vq, c.head, 100 + i);
	}
	assert_int_equal(virtq_pop(&f->vq, &c), 0);
	assert_int_equal(f->vq.last_avail, 3);
	assert_int_equal(used_idx(f), 3);
	for (unsigned int i = 0; i < 6; i++) {
		struct virtq_used_elem e = used_elem(f, (65533 + i) % 8);

		assert_int_equal(e.id, i + 1);
		assert_int_equal(e.len, 100 + i);
	}
	/* used went 65533 -> 3, past used_event 65534. */
	assert_true(virtq_needs_interrupt(&f->vq));
}

static void queue_of_one(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;

	assert_int_equal(start_queue(f, 1), 0);
	for (unsigned int i = 0; i < 5; i++) {
		set_desc(f, DESC, 0, (struct virtq_desc)W(BUF + i, 1));
		offer(f, 0);
		assert_int_equal(virtq_pop(&f->vq, &c), 1);
		assert_ptr_equal(c.iov[0].iov_base, host(f, BUF + i));
		virtq_push(&f->vq, 0, 1);
		assert_int_equal(used_idx(f), i + 1);
	}
}

static void queue_of_max_size(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;

	assert_int_equal(start_queue(f, VIRTQ_MAX_SIZE), 0);
	/* The longest chain: every descriptor of the queue, readable then writable. */
	for (unsigned int i = 0; i < VIRTQ_MAX_SIZE; i++)
		set_desc(f, DESC, i, (struct virtq_desc){ BUF + 8 * i, 8,
				      (i >= 200 ? WRITE : 0) | NEXT, i + 1 });
	set_desc(f, DESC, VIRTQ_MAX_SIZE - 1, (struct virtq_desc)W(BUF, 8));
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
	assert_int_equal(c.nread, 200);
	assert_int_equal(c.nwrite, VIRTQ_MAX_SIZE - 200);
	assert_int_equal(c.read_len + c.write_len, 8 * VIRTQ_MAX_SIZE);
	assert_chain_in_ram(f, &c);

	/* A full ring: avail idx exactly size ahead is allowed. */
	set_desc(f, DESC, 9, (struct virtq_desc)R(BUF, 1));
	for (unsigned int i = 0; i < VIRTQ_MAX_SIZE; i++)
		offer(f, 9);
	for (unsigned int i = 0; i < VIRTQ_MAX_SIZE; i++)
		assert_int_equal(virtq_pop(&f->vq, &c), 1);
	assert_int_equal(virtq_pop(&f->vq, &c), 0);
}

static void no_interrupt_flag(void **state)
{
	struct fx *f = *state;

	assert_int_equal(start_queue(f, 8), 0);
	virtq_push(&f->vq, 0, 0);
	assert_true(virtq_needs_interrupt(&f->vq));
	put16(f, AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);
	virtq_push(&f->vq, 0, 0);
	assert_false(virtq_needs_interrupt(&f->vq));
	put16(f, AVAIL, 0);
	assert_true(virtq_needs_interrupt(&f->vq));
}

static void event_idx_interrupts(void **state)
{
	struct fx *f = *state;
	const uint64_t used_event = AVAIL + 4 + 2 * 8;

	f->vq.event_idx = true;
	assert_int_equal(start_queue(f, 8), 0);
	put16(f, AVAIL, VIRTQ_AVAIL_F_NO_INTERRUPT);	/* ignored with EVENT_IDX */
	virtq_push(&f->vq, 0, 0);
	assert_true(virtq_needs_interrupt(&f->vq));	/* used 1: the first one */
	assert_false(virtq_needs_interrupt(&f->vq));	/* nothing new since */

	put16(f, used_event, 2);		/* interrupt once used passes 2 */
	virtq_push(&f->vq, 0, 0);
	assert_false(virtq_needs_interrupt(&f->vq));	/* used 2 */
	virtq_push(&f->vq, 0, 0);
	assert_true(virtq_needs_interrupt(&f->vq));	/* used 3 */

	put16(f, used_event, 3);		/* a batch stepping over the event */
	virtq_push(&f->vq, 0, 0);
	virtq_push(&f->vq, 0, 0);
	assert_true(virtq_needs_interrupt(&f->vq));	/* used 5 */

	put16(f, used_event, 0);		/* an event already behind us */
	virtq_push(&f->vq, 0, 0);
	virtq_push(&f->vq, 0, 0);
	assert_false(virtq_needs_interrupt(&f->vq));	/* used 7 */
	assert_int_equal(f->vq.signalled_used, 7);
}

static void notify_flag_without_event_idx(void **state)
{
	struct fx *f = *state;

	assert_int_equal(start_queue(f, 8), 0);
	virtq_set_notify(&f->vq, false);
	assert_int_equal(get16(f, USED), VIRTQ_USED_F_NO_NOTIFY);
	virtq_set_notify(&f->vq, true);
	assert_int_equal(get16(f, USED), 0);
	assert_int_equal(get16(f, USED + 4 + 8 * 8), 0);	/* avail_event untouched */
}

static void notify_avail_event(void **state)
{
	struct fx *f = *state;
	const uint64_t avail_event = USED + 4 + 8 * 8;
	struct virtq_chain c;

	f->vq.event_idx = true;
	assert_int_equal(start_queue(f, 8), 0);
	set_desc(f, DESC, 0, (struct virtq_desc)R(BUF, 1));
	offer(f, 0);
	offer(f, 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
	virtq_set_notify(&f->vq, true);
	assert_int_equal(get16(f, avail_event), 2);
	assert_int_equal(get16(f, USED), 0);		/* flags are not used with EVENT_IDX */
	/* The driver added a buffer before seeing avail_event: has_work says so. */
	assert_true(virtq_has_work(&f->vq));
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
	assert_false(virtq_has_work(&f->vq));
	virtq_set_notify(&f->vq, false);
	assert_int_equal(get16(f, avail_event), 2);
	virtq_set_notify(&f->vq, true);
	assert_int_equal(get16(f, avail_event), 3);
}

static void rings_may_end_at_end_of_ram(void **state)
{
	struct fx *f = *state;

	configure(f, 8);
	f->vq.desc_gpa = RAM - 16 * 8;
	f->vq.avail_gpa = RAM - 6 - 2 * 8;
	f->vq.used_gpa = RAM - 6 - 8 * 8 - 2;	/* 4-byte aligned: 2 spare bytes */
	assert_int_equal(virtq_enable(&f->vq, &f->gm, 8), 0);
	assert_ptr_equal(f->vq.used_event, host(f, RAM - 2));
	assert_ptr_equal(f->vq.avail_event, host(f, RAM - 4));
}

static void big_guest_high_ram(void **state)
{
	struct fx f;
	struct virtq_chain c;

	fx_init(&f, BIG_RAM);
	configure(&f, 4);
	f.vq.desc_gpa = HIGH;
	f.vq.avail_gpa = HIGH + 0x100;
	f.vq.used_gpa = HOLE - 6 - 8 * 4 - 2;	/* ends 2 bytes before the hole */
	assert_int_equal(virtq_enable(&f.vq, &f.gm, 4), 0);
	assert_ptr_equal(f.vq.desc, f.gm.base + HOLE);
	set_desc(&f, HIGH, 0, (struct virtq_desc)RN(HOLE - 16, 16, 1));
	set_desc(&f, HIGH, 1, (struct virtq_desc)W(HIGH + 4096 - 16, 16));
	put16(&f, HIGH + 0x100 + 4, 0);
	put16(&f, HIGH + 0x100 + 2, 1);
	assert_int_equal(virtq_pop(&f.vq, &c), 1);
	assert_ptr_equal(c.iov[0].iov_base, f.gm.base + HOLE - 16);
	assert_ptr_equal(c.iov[1].iov_base, f.gm.base + HOLE + 4096 - 16);
	assert_chain_in_ram(&f, &c);
	guest_memory_destroy(&f.gm);
}

static void reset_forgets_everything(void **state)
{
	static const struct virtq zero;
	struct fx *f = *state;
	struct virtq_chain c;

	assert_int_equal(start_queue(f, 8), 0);
	set_desc(f, DESC, 0, (struct virtq_desc)R(BUF, 1));
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
	virtq_reset(&f->vq);
	assert_memory_equal(&f->vq, &zero, sizeof(zero));
	/* A reset queue takes nothing and writes nothing. */
	assert_int_equal(virtq_pop(&f->vq, &c), 0);
	assert_false(virtq_has_work(&f->vq));
	virtq_push(&f->vq, 0, 1);
	virtq_set_notify(&f->vq, false);
	assert_false(virtq_needs_interrupt(&f->vq));
	assert_int_equal(used_idx(f), 0);
	assert_int_equal(get16(f, USED), 0);
}

static void broken_queue_stays_broken_until_reset(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;
	char why[sizeof(f->vq.error)];

	assert_int_equal(start_queue(f, 8), 0);
	set_desc(f, DESC, 0, (struct virtq_desc)RN(BUF, 1, 0));
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), -1);
	strcpy(why, f->vq.error);
	/* Repairing the chain does not revive the device... */
	set_desc(f, DESC, 0, (struct virtq_desc)R(BUF, 1));
	assert_int_equal(virtq_pop(&f->vq, &c), -1);
	assert_string_equal(f->vq.error, why);
	assert_false(virtq_has_work(&f->vq));
	assert_int_equal(f->vq.last_avail, 0);
	/* ...a reset does. */
	virtq_reset(&f->vq);
	assert_int_equal(start_queue(f, 8), 0);
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
}

/*
 * Descriptors are copied once: what the driver writes after the pop, or
 * between our check and our use, cannot change what the device was handed.
 */
static void chain_is_a_snapshot(void **state)
{
	struct fx *f = *state;
	struct virtq_chain c;

	f->vq.indirect = true;
	assert_int_equal(start_queue(f, 8), 0);
	set_desc(f, DESC, 0, (struct virtq_desc)RN(BUF, 16, 1));
	set_desc(f, DESC, 1, (struct virtq_desc)I(IND, 16));
	set_desc(f, IND, 0, (struct virtq_desc)W(BUF + 0x100, 32));
	offer(f, 0);
	assert_int_equal(virtq_pop(&f->vq, &c), 1);
	set_desc(f, DESC, 0, (struct virtq_desc)RN(RAM - 8, 0xffffffff, 0));
	set_desc(f, DESC, 1, (struct virtq_desc)I(UINT64_MAX - 15, 0xfffffff0));
	set_desc(f, IND, 0, (struct virtq_desc)W(RAM - 1, 0x1000));
	assert_int_equal(c.nread, 1);
	assert_int_equal(c.nwrite, 1);
	assert_ptr_equal(c.iov[0].iov_base, host(f, BUF));
	assert_int_equal(c.iov[0].iov_len, 16);
	assert_ptr_equal(c.iov[1].iov_base, host(f, BUF + 0x100));
	assert_int_equal(c.iov[1].iov_len, 32);
}

struct flipper {
	struct fx *f;
	int stop;
};

/*
 * Rewrite descriptor 0 between two valid forms, (BUF, 4096) and
 * (RAM - 16, 16), one field at a time. A torn mix (RAM - 16, 4096) must be
 * refused; a device that checked one read and used another would escape RAM
 * (re-reading len after the check fails this test within a few iterations).
 */
static void *flip_descriptor(void *arg)
{
	struct flipper *fl = arg;
	struct virtq_desc *d = (struct virtq_desc *)(fl->f->gm.base + DESC);

	while (!__atomic_load_n(&fl->stop, __ATOMIC_RELAXED)) {
		__atomic_store_n(&d->addr, BUF, __ATOMIC_RELAXED);
		__atomic_store_n(&d->len, 4096, __ATOMIC_RELAXED);
		__atomic_store_n(&d->addr, RAM - 16, __ATOMIC_RELAXED);
		__atomic_store_n(&d->len, 16, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void racing_driver_cannot_escape_ram(void **state)
{
	struct fx *f = *state;
	struct flipper fl = { .f = f };
	struct virtq_chain c;
	unsigned int ok = 0, refused = 0;
	pthread_t t;

	assert_int_equal(start_queue(f, 8), 0);
	set_desc(f, DESC, 0, (struct virtq_desc)W(BUF, 16));
	assert_int_equal(pthread_create(&t, NULL, flip_descriptor, &fl), 0);
	for (unsigned int i = 0; i < 200000; i++) {
		offer(f, 0);
		switch (virtq_pop(&f->vq, &c)) {
		case 1:
			assert_chain_in_ram(f, &c);
			virtq_push(&f->vq, c.head, 0);
			ok++;
			break;
		case -1:
			assert_string_not_equal(f->vq.error, "");
			virtq_reset(&f->vq);
			assert_int_equal(start_queue(f, 8), 0);
			put16(f, USED + 2, 0);
			refused++;
			break;
		default:
			fail();
		}
	}
	__atomic_store_n(&fl.stop, 1, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	assert_true(ok > 0);
	print_message("racing driver: %u chains taken, %u torn ones refused\n", ok, refused);
}

/* ---- rings the device must refuse to enable ---- */

struct bad_ring {
	const char *name;
	const char *reason;	/* expected in vq->error */
	uint16_t size, max;	/* max: VIRTQ_MAX_SIZE when 0 */
	bool big;		/* 3 GiB + 4 KiB guest */
	uint64_t desc, avail, used;	/* 0: the usual place */
};

static const struct bad_ring bad_rings[] = {
	{ "size 0", "power of two", .size = 0 },
	{ "size 3", "power of two", .size = 3 },
	{ "size 6", "power of two", .size = 6 },
	{ "size 255", "power of two", .size = 255 },
	{ "size 0xffff", "power of two", .size = 0xffff },
	{ "size above the device maximum", "in 1..8", .size = 16, .max = 8 },
	{ "size above VIRTQ_MAX_SIZE", "in 1..256", .size = 512, .max = 1024 },
	{ "size 32768", "power of two", .size = 32768 },
	{ "descriptor table 8-byte aligned", "aligned", .size = 8, .desc = DESC + 8 },
	{ "descriptor table odd", "aligned", .size = 8, .desc = DESC + 1 },
	{ "avail ring odd", "aligned", .size = 8, .avail = AVAIL + 1 },
	{ "used ring 2-byte aligned", "aligned", .size = 8, .used = USED + 2 },
	{ "descriptor table crossing the end of RAM", "inside one RAM region",
	  .size = 8, .desc = RAM - 112 },
	/* These fit without the event fields, but the rings include them. */
	{ "avail ring with used_event past RAM", "available ring", .size = 8, .avail = RAM - 20 },
	{ "used ring with avail_event past RAM", "used ring", .size = 8, .used = RAM - 68 },
	{ "descriptor table at the end of RAM", "inside one RAM region", .size = 8, .desc = RAM },
	{ "huge descriptor table address", "inside one RAM region",
	  .size = 8, .desc = 0xfffffffffffffff0ULL },
	{ "huge avail ring address", "inside one RAM region",
	  .size = 8, .avail = 0xfffffffffffffffeULL },
	{ "huge used ring address", "inside one RAM region",
	  .size = 8, .used = 0xfffffffffffffffcULL },
	{ "descriptor table running into the MMIO hole", "inside one RAM region",
	  .size = 8, .big = true, .desc = HOLE - 64 },
	{ "used ring in the MMIO hole", "inside one RAM region",
	  .size = 8, .big = true, .used = HOLE },
	{ "avail ring past the end of high RAM", "inside one RAM region",
	  .size = 8, .big = true, .avail = HIGH + 4096 - 10 },
	{ "descriptor table from low RAM across the hole", "inside one RAM region",
	  .size = 256, .big = true, .desc = HOLE - 2048 },
};

static void run_bad_ring(void **state)
{
	const struct bad_ring *row = *state;
	struct virtq_chain c;
	struct fx f;

	fx_init(&f, row->big ? BIG_RAM : RAM);
	configure(&f, row->size);
	f.vq.desc_gpa = row->desc ? row->desc : DESC;
	f.vq.avail_gpa = row->avail ? row->avail : AVAIL;
	f.vq.used_gpa = row->used ? row->used : USED;
	put16(&f, AVAIL + 2, 1);
	assert_int_equal(virtq_enable(&f.vq, &f.gm, row->max ? row->max : VIRTQ_MAX_SIZE), -1);
	if (!strstr(f.vq.error, row->reason))
		fail_msg("error \"%s\" lacks \"%s\"", f.vq.error, row->reason);
	assert_false(f.vq.enabled);
	/* A queue that is not enabled takes and writes nothing. */
	assert_false(virtq_has_work(&f.vq));
	assert_int_equal(virtq_pop(&f.vq, &c), 0);
	virtq_push(&f.vq, 0, 1);
	virtq_set_notify(&f.vq, false);
	assert_false(virtq_needs_interrupt(&f.vq));
	assert_int_equal(used_idx(&f), 0);
	guest_memory_destroy(&f.gm);
}

/* ---- chains the device must refuse ---- */

struct bad_chain {
	const char *name;
	const char *reason;		/* expected in vq->error */
	uint16_t size;			/* queue size; 8 when 0 */
	bool indirect;			/* VIRTIO_F_INDIRECT_DESC negotiated */
	bool big;			/* 3 GiB + 4 KiB guest */
	uint16_t start;			/* indexes the queue has reached */
	uint16_t ahead;			/* avail idx - start; 1 when 0 */
	uint16_t head;
	struct virtq_desc desc[16];	/* the queue's first descriptors */
	struct virtq_desc table[16];	/* an indirect table at IND */
	void (*extra)(struct fx *f);	/* what the arrays cannot say */
};

/* 256 indirect entries, each pointing at the next and the last back at the first. */
static void indirect_ring_of_256(struct fx *f)
{
	for (unsigned int i = 0; i < VIRTQ_MAX_SIZE; i++)
		set_desc(f, IND, i, (struct virtq_desc)RN(BUF, 16, (i + 1) % VIRTQ_MAX_SIZE));
}

/* 256 valid indirect entries: with the direct ones before them, too many buffers. */
static void indirect_chain_of_256(struct fx *f)
{
	indirect_ring_of_256(f);
	set_desc(f, IND, VIRTQ_MAX_SIZE - 1, (struct virtq_desc)R(BUF, 16));
}

/* A 256-entry queue whose descriptors all form one cycle. */
static void queue_ring_of_256(struct fx *f)
{
	for (unsigned int i = 0; i < VIRTQ_MAX_SIZE; i++)
		set_desc(f, DESC, i, (struct virtq_desc)RN(BUF, 16, (i + 1) % VIRTQ_MAX_SIZE));
}

static const struct bad_chain bad_chains[] = {
	/* Loops. */
	{ "self loop", "loop", .desc = { RN(BUF, 16, 0) } },
	{ "writable self loop", "loop", .desc = { WN(BUF, 16, 0) } },
	{ "two-descriptor cycle", "loop", .desc = { RN(BUF, 16, 1), RN(BUF, 16, 0) } },
	{ "cycle through the whole queue", "loop",
	  .desc = { RN(BUF, 1, 1), RN(BUF, 1, 2), RN(BUF, 1, 3), RN(BUF, 1, 4),
		    WN(BUF, 1, 5), WN(BUF, 1, 6), WN(BUF, 1, 7), WN(BUF, 1, 0) } },
	{ "cycle not through the head", "loop",
	  .desc = { RN(BUF, 16, 1), RN(BUF, 16, 2), RN(BUF, 16, 1) } },
	{ "cycle of 256 in a queue of 256", "loop", .size = 256, .extra = queue_ring_of_256 },
	{ "self loop in a queue of one", "loop", .size = 1, .desc = { RN(BUF, 16, 0) } },
	/* Indexes out of range. */
	{ "next 1 in a queue of one", "descriptor 0: next 1 outside queue of 1", .size = 1,
	  .desc = { RN(BUF, 16, 1) } },
	{ "next one past the queue", "descriptor 0: next 8 outside queue of 8",
	  .desc = { RN(BUF, 16, 8) } },
	{ "next 0xffff", "next 65535 outside queue", .desc = { RN(BUF, 16, 0xffff) } },
	{ "next out of range after good descriptors", "descriptor 2: next 9 outside",
	  .desc = { RN(BUF, 16, 1), RN(BUF, 16, 2), RN(BUF, 16, 9) } },
	{ "head one past the queue", "head 8 outside queue of 8", .head = 8,
	  .desc = { R(BUF, 16) } },
	{ "head 0xffff", "head 65535 outside", .head = 0xffff },
	{ "head 256 in a queue of 256", "head 256 outside queue of 256", .size = 256,
	  .head = 256 },
	/* Buffers outside RAM. */
	{ "buffer at the end of RAM", "outside RAM", .desc = { R(RAM, 1) } },
	{ "buffer at UINT64_MAX", "outside RAM", .desc = { R(UINT64_MAX, 1) } },
	{ "addr + len overflows", "outside RAM", .desc = { R(UINT64_MAX - 15, 32) } },
	{ "writable addr + len overflows", "outside RAM", .desc = { W(UINT64_MAX - 7, 16) } },
	{ "len crossing the end of RAM", "0x1ffff8+16 outside RAM", .desc = { R(RAM - 8, 16) } },
	{ "len 0xffffffff", "outside RAM", .desc = { R(0, 0xffffffff) } },
	{ "bad buffer after good ones", "descriptor 2: buffer",
	  .desc = { RN(BUF, 16, 1), RN(BUF, 16, 2), W(RAM - 4, 8) } },
	/* Zero lengths. */
	{ "zero-length head", "descriptor 0: zero length", .desc = { R(BUF, 0) } },
	{ "zero-length in the middle", "descriptor 1: zero length",
	  .desc = { RN(BUF, 16, 1), RN(BUF, 0, 2), W(BUF, 16) } },
	{ "zero-length writable", "zero length", .desc = { W(BUF, 0) } },
	{ "zero-length outside RAM", "zero length", .desc = { R(UINT64_MAX, 0) } },
	/* Readable after writable. */
	{ "writable then readable", "descriptor 1: readable buffer after a writable",
	  .desc = { WN(BUF, 16, 1), R(BUF, 16) } },
	{ "readable, writable, readable", "descriptor 2: readable",
	  .desc = { RN(BUF, 16, 1), WN(BUF, 16, 2), R(BUF, 16) } },
	/* The avail index. */
	{ "avail index size + 1 ahead", "jumped 9 ahead", .ahead = 9, .desc = { R(BUF, 1) } },
	{ "avail index 0x8000 ahead", "jumped 32768 ahead", .ahead = 0x8000 },
	{ "avail index one behind", "jumped 65535 ahead", .ahead = 0xffff },
	{ "avail index jumping across the wrap", "jumped 9 ahead of 65530", .start = 65530,
	  .ahead = 9, .desc = { R(BUF, 1) } },
	{ "avail index 257 ahead in a queue of 256", "jumped 257", .size = 256, .ahead = 257 },
	{ "bad head after the wrap", "avail entry 65535: head 8", .start = 65535, .head = 8 },
	/* Indirect descriptors themselves. */
	{ "indirect not negotiated", "descriptor 0: indirect table not negotiated",
	  .desc = { I(IND, 16) }, .table = { R(BUF, 16) } },
	{ "indirect not negotiated after a buffer", "descriptor 1: indirect table not negotiated",
	  .desc = { RN(BUF, 16, 1), I(IND, 16) }, .table = { R(BUF, 16) } },
	{ "indirect with NEXT", "both INDIRECT and NEXT", .indirect = true,
	  .desc = { { IND, 16, INDIRECT | NEXT, 1 }, R(BUF, 16) }, .table = { R(BUF, 16) } },
	{ "nested indirect", "indirect descriptor 0: nested", .indirect = true,
	  .desc = { I(IND, 16) }, .table = { I(IND + 0x100, 16) } },
	{ "nested indirect after a buffer", "indirect descriptor 1: nested", .indirect = true,
	  .desc = { I(IND, 32) }, .table = { RN(BUF, 16, 1), I(IND, 32) } },
	{ "indirect table length 0", "length 0 not a multiple", .indirect = true,
	  .desc = { I(IND, 0) } },
	{ "indirect table length 8", "length 8 not a multiple", .indirect = true,
	  .desc = { I(IND, 8) } },
	{ "indirect table length 17", "length 17 not a multiple", .indirect = true,
	  .desc = { I(IND, 17) } },
	{ "indirect table of 257 entries", "257 entries, more than 256", .indirect = true,
	  .desc = { I(IND, 257 * 16) } },
	{ "indirect table length 0xfffffff0", "more than 256", .indirect = true,
	  .desc = { I(IND, 0xfffffff0) } },
	{ "indirect table at the end of RAM", "indirect table 0x200000+16 outside RAM",
	  .indirect = true, .desc = { I(RAM, 16) } },
	{ "indirect table crossing the end of RAM", "indirect table", .indirect = true,
	  .desc = { I(RAM - 16, 32) } },
	{ "indirect table address overflowing", "indirect table", .indirect = true,
	  .desc = { I(UINT64_MAX - 15, 32) } },
	{ "indirect table at the top of the address space", "indirect table", .indirect = true,
	  .desc = { I(0xfffffffffffffff0ULL, 16) } },
	/* Inside indirect tables. */
	{ "indirect next outside the table", "indirect descriptor 0: next 4 outside table of 4",
	  .indirect = true, .desc = { I(IND, 64) }, .table = { RN(BUF, 16, 4) } },
	{ "indirect next 0xffff", "next 65535 outside table", .indirect = true,
	  .desc = { I(IND, 32) }, .table = { RN(BUF, 16, 1), RN(BUF, 16, 0xffff) } },
	{ "indirect next beyond a short table", "next 2 outside table of 2", .indirect = true,
	  .desc = { I(IND, 32) }, .table = { RN(BUF, 16, 1), RN(BUF, 16, 2), R(BUF, 16) } },
	{ "indirect self loop", "loop", .indirect = true, .desc = { I(IND, 16) },
	  .table = { RN(BUF, 16, 0) } },
	{ "indirect two-entry cycle", "loop", .indirect = true, .desc = { I(IND, 32) },
	  .table = { RN(BUF, 16, 1), WN(BUF, 16, 0) } },
	{ "indirect cycle of 256", "loop", .indirect = true,
	  .desc = { I(IND, 256 * 16) }, .extra = indirect_ring_of_256 },
	{ "indirect zero-length entry", "indirect descriptor 1: zero length", .indirect = true,
	  .desc = { I(IND, 32) }, .table = { RN(BUF, 16, 1), W(BUF, 0) } },
	{ "indirect entry outside RAM", "indirect descriptor 0: buffer", .indirect = true,
	  .desc = { I(IND, 16) }, .table = { R(RAM, 16) } },
	{ "indirect entry overflowing", "outside RAM", .indirect = true,
	  .desc = { I(IND, 16) }, .table = { W(UINT64_MAX - 7, 16) } },
	{ "indirect writable then readable", "indirect descriptor 1: readable", .indirect = true,
	  .desc = { I(IND, 32) }, .table = { WN(BUF, 16, 1), R(BUF, 16) } },
	{ "direct writable then indirect readable", "indirect descriptor 0: readable",
	  .indirect = true, .desc = { WN(BUF, 16, 1), I(IND, 16) }, .table = { R(BUF, 16) } },
	{ "more than 256 buffers in one chain", "chain longer than 256 buffers",
	  .indirect = true, .extra = indirect_chain_of_256,
	  .desc = { RN(BUF, 1, 1), RN(BUF, 1, 2), RN(BUF, 1, 3), RN(BUF, 1, 4), RN(BUF, 1, 5),
		    RN(BUF, 1, 6), RN(BUF, 1, 7), I(IND, 256 * 16) } },
	/* Around the MMIO hole of a 3 GiB + 4 KiB guest. */
	{ "buffer running into the MMIO hole", "outside RAM", .big = true,
	  .desc = { R(HOLE - 8, 16) } },
	{ "buffer inside the MMIO hole", "outside RAM", .big = true, .desc = { R(HOLE, 16) } },
	{ "buffer across the hole into high RAM", "outside RAM", .big = true,
	  .desc = { R(HOLE - 8, (uint32_t)(HIGH - HOLE + 16)) } },
	{ "buffer past the end of high RAM", "outside RAM", .big = true,
	  .desc = { W(HIGH + 4096 - 8, 16) } },
	{ "buffer just above high RAM", "outside RAM", .big = true,
	  .desc = { W(HIGH + 4096, 1) } },
	{ "indirect table running into the hole", "indirect table", .big = true,
	  .indirect = true, .desc = { I(HOLE - 16, 32) } },
};

static void run_bad_chain(void **state)
{
	const struct bad_chain *row = *state;
	const uint16_t size = row->size ? row->size : 8;
	const uint16_t ahead = row->ahead ? row->ahead : 1;
	struct virtq_chain c;
	struct fx f;
	char why[sizeof(f.vq.error)];

	fx_init(&f, row->big ? BIG_RAM : RAM);
	f.vq.indirect = row->indirect;
	assert_int_equal(start_queue(&f, size), 0);
	for (unsigned int i = 0; i < ARRAY_SIZE(row->desc) && i < size; i++)
		set_desc(&f, DESC, i, row->desc[i]);
	for (unsigned int i = 0; i < ARRAY_SIZE(row->table); i++)
		set_desc(&f, IND, i, row->table[i]);
	if (row->extra)
		row->extra(&f);
	/* As if the queue had already carried row->start chains. */
	f.vq.last_avail = f.vq.used = row->start;
	put16(&f, USED + 2, row->start);
	put16(&f, AVAIL + 4 + 2ULL * (row->start % size), row->head);
	put16(&f, AVAIL + 2, (uint16_t)(row->start + ahead));

	assert_int_equal(virtq_pop(&f.vq, &c), -1);
	if (!strstr(f.vq.error, row->reason))
		fail_msg("error \"%s\" lacks \"%s\"", f.vq.error, row->reason);
	assert_true(f.vq.broken);
	assert_int_equal(f.vq.last_avail, row->start);
	assert_int_equal(used_idx(&f), row->start);
	/* Broken until reset: the same answer, whatever the driver does next. */
	strcpy(why, f.vq.error);
	put16(&f, AVAIL + 2, (uint16_t)(row->start + 1));
	set_desc(&f, DESC, row->head % size, (struct virtq_desc)R(BUF, 1));
	assert_int_equal(virtq_pop(&f.vq, &c), -1);
	assert_string_equal(f.vq.error, why);
	assert_int_equal(f.vq.last_avail, row->start);
	guest_memory_destroy(&f.gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(empty_queue_gives_nothing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(single_readable_buffer, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(readable_then_writable_split, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(writable_only_chain, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(indirect_tables, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(largest_indirect_table_in_smallest_queue, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(push_fills_used_ring, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(indexes_wrap_around, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(queue_of_one, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(queue_of_max_size, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(no_interrupt_flag, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(event_idx_interrupts, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(notify_flag_without_event_idx, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(notify_avail_event, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(rings_may_end_at_end_of_ram, fx_setup, fx_teardown),
		cmocka_unit_test(big_guest_high_ram),
		cmocka_unit_test_setup_teardown(reset_forgets_everything, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(broken_queue_stays_broken_until_reset, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(chain_is_a_snapshot, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(racing_driver_cannot_escape_ram, fx_setup,
						fx_teardown),
	};
	static struct CMUnitTest ring_tests[ARRAY_SIZE(bad_rings)];
	static struct CMUnitTest chain_tests[ARRAY_SIZE(bad_chains)];
	int failed;

	for (unsigned int i = 0; i < ARRAY_SIZE(bad_rings); i++)
		ring_tests[i] = (struct CMUnitTest){ .name = bad_rings[i].name,
			.test_func = run_bad_ring, .initial_state = (void *)&bad_rings[i] };
	for (unsigned int i = 0; i < ARRAY_SIZE(bad_chains); i++)
		chain_tests[i] = (struct CMUnitTest){ .name = bad_chains[i].name,
			.test_func = run_bad_chain, .initial_state = (void *)&bad_chains[i] };

	failed = cmocka_run_group_tests_name("virtqueue", tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("refused rings", ring_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("refused chains", chain_tests, NULL, NULL);
	return failed ? 1 : 0;
}
