/*
 * Split virtqueues (virtio 1.2, 2.7), device side: the one parser of guest
 * descriptors. Rings are reached only through pointers checked by
 * gpa_to_host() at enable time; the host is little-endian, as the rings are.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "spry/virtqueue.h"

#define DESC_SIZE sizeof(struct virtq_desc)

__attribute__((format(printf, 2, 3)))
static int fail(struct virtq *vq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vq->error, sizeof(vq->error), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- enabling ---- */

static void *map_ring(struct virtq *vq, const char *name, uint64_t gpa, uint64_t len,
		      uint64_t align)
{
	void *host;

	if (gpa % align) {
		fail(vq, "%s ring at 0x%llx is not %llu-byte aligned", name,
		     (unsigned long long)gpa, (unsigned long long)align);
		return NULL;
	}
	host = gpa_to_host(vq->mem, gpa, len);
	if (!host)
		fail(vq, "%s ring 0x%llx+%llu is not inside one RAM region", name,
		     (unsigned long long)gpa, (unsigned long long)len);
	return host;
}

int virtq_enable(struct virtq *vq, const struct guest_memory *mem, uint16_t max_size)
{
	const uint16_t n = vq->size;
	uint8_t *desc, *avail, *used;

	vq->enabled = false;
	vq->broken = false;
	vq->error[0] = '\0';
	vq->mem = mem;
	if (max_size > VIRTQ_MAX_SIZE)
		max_size = VIRTQ_MAX_SIZE;
	if (n == 0 || n > max_size || (n & (n - 1)))
		return fail(vq, "queue size %u is not a power of two in 1..%u", n, max_size);

	/* Sizes and alignments from the table in spec 2.7, event fields included. */
	desc = map_ring(vq, "descriptor", vq->desc_gpa, DESC_SIZE * n, 16);
	if (!desc)
		return -1;
	avail = map_ring(vq, "available", vq->avail_gpa, 6 + 2 * n, 2);
	if (!avail)
		return -1;
	used = map_ring(vq, "used", vq->used_gpa, 6 + sizeof(struct virtq_used_elem) * n, 4);
	if (!used)
		return -1;

	vq->desc = (struct virtq_desc *)desc;
	vq->avail_flags = (volatile uint16_t *)avail;
	vq->avail_idx = (volatile uint16_t *)(avail + 2);
	vq->avail_ring = (volatile uint16_t *)(avail + 4);
	vq->used_event = (volatile uint16_t *)(avail + 4 + 2 * n);
	vq->used_flags = (volatile uint16_t *)used;
	vq->used_idx = (volatile uint16_t *)(used + 2);
	vq->used_ring = (struct virtq_used_elem *)(used + 4);
	vq->avail_event = (volatile uint16_t *)(used + 4 + sizeof(struct virtq_used_elem) * n);
	vq->last_avail = 0;
	vq->used = 0;
	vq->signalled_used = 0;
	vq->signalled_valid = false;
	vq->enabled = true;
	return 0;
}

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

/* ---- taking chains ---- */

/*
 * The driver may rewrite a descriptor while we parse it. Copy it once and
 * check and use only the copy: the compiler barrier forbids the compiler to
 * go back to guest memory for a field instead of reading the copy. Tables are
 * byte pointers because the spec does not align indirect ones.
 */
static struct virtq_desc read_desc(const uint8_t *table, uint16_t i)
{
	struct virtq_desc d;

	memcpy(&d, table + (size_t)i * DESC_SIZE, sizeof(d));
	__asm__ __volatile__("" ::: "memory");
	return d;
}

static const char *where(bool in_table)
{
	return in_table ? "indirect descriptor" : "descriptor";
}

/* Append one buffer descriptor to the chain, readable ones before writable ones. */
static int add_buffer(struct virtq *vq, struct virtq_chain *c, const struct virtq_desc *d,
		      uint16_t i, bool in_table)
{
	const bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	void *host;

	if (d->len == 0)
		return fail(vq, "%s %u: zero length", where(in_table), i);
	if (!writable && c->nwrite)
		return fail(vq, "%s %u: readable buffer after a writable one", where(in_table), i);
	if (c->nread + c->nwrite == VIRTQ_MAX_SIZE)
		return fail(vq, "%s %u: chain longer than %d buffers", where(in_table), i,
			    VIRTQ_MAX_SIZE);
	host = gpa_to_host(vq->mem, d->addr, d->len);
	if (!host)
		return fail(vq, "%s %u: buffer 0x%llx+%u outside RAM", where(in_table), i,
			    (unsigned long long)d->addr, d->len);

	c->iov[c->nread + c->nwrite] = (struct iovec){ .iov_base = host, .iov_len = d->len };
	if (writable) {
		c->nwrite++;
		c->write_len += d->len;
	} else {
		c->nread++;
		c->read_len += d->len;
	}
	return 0;
}

static int walk_table(struct virtq *vq, struct virtq_chain *c, const uint8_t *table,
		      unsigned int n, uint16_t i, bool in_table);

/* Descriptor @i of the queue points at an indirect table (spec 2.7.5.3). */
static int walk_indirect(struct virtq *vq, struct virtq_chain *c, const struct virtq_desc *d,
			 uint16_t i)
{
	const uint8_t *table;

	if (!vq->indirect)
		return fail(vq, "descriptor %u: indirect table not negotiated", i);
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return fail(vq, "descriptor %u: both INDIRECT and NEXT", i);
	if (d->len == 0 || d->len % DESC_SIZE)
		return fail(vq, "descriptor %u: indirect table length %u not a multiple of %zu",
			    i, d->len, DESC_SIZE);
	if (d->len / DESC_SIZE > VIRTQ_MAX_SIZE)
		return fail(vq, "descriptor %u: indirect table of %u entries, more than %d", i,
			    d->len / (unsigned int)DESC_SIZE, VIRTQ_MAX_SIZE);
	table = gpa_to_host(vq->mem, d->addr, d->len);
	if (!table)
		return fail(vq, "descriptor %u: indirect table 0x%llx+%u outside RAM", i,
			    (unsigned long long)d->addr, d->len);
	/* The WRITE flag of the descriptor naming the table is ignored (2.7.5.3.2). */
	return walk_table(vq, c, table, d->len / DESC_SIZE, 0, true);
}

/*
 * Follow a chain from entry @i of a table of @n descriptors: the queue's own
 * table, or an indirect one. A chain that does not end within @n steps loops.
 */
static int walk_table(struct virtq *vq, struct virtq_chain *c, const uint8_t *table,
		      unsigned int n, uint16_t i, bool in_table)
{
	for (unsigned int steps = 1;; steps++) {
		struct virtq_desc d;

		if (steps > n)
			return fail(vq, "%s %u: loop, the chain is longer than its %s of %u",
				    where(in_table), i, in_table ? "table" : "queue", n);
		d = read_desc(table, i);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (in_table)
				return fail(vq, "indirect descriptor %u: nested indirect table", i);
			return walk_indirect(vq, c, &d, i);
		}
		if (add_buffer(vq, c, &d, i, in_table))
			return -1;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return fail(vq, "%s %u: next %u outside %s of %u", where(in_table), i,
				    d.next, in_table ? "table" : "queue", n);
		i = d.next;
	}
}

static int take_chain(struct virtq *vq, struct virtq_chain *c)
{
	/* Acquire: ring entries and descriptors are read only after the index that published them. */
	const uint16_t avail = __atomic_load_n(vq->avail_idx, __ATOMIC_ACQUIRE);
	const uint16_t ahead = avail - vq->last_avail;
	uint16_t head;

	if (ahead > vq->size)
		return fail(vq, "avail index jumped %u ahead of %u in a queue of %u", ahead,
			    vq->last_avail, vq->size);
	if (ahead == 0)
		return 0;
	head = vq->avail_ring[vq->last_avail & (vq->size - 1)];
	if (head >= vq->size)
		return fail(vq, "avail entry %u: head %u outside queue of %u", vq->last_avail,
			    head, vq->size);

	c->head = head;
	c->nread = c->nwrite = 0;
	c->read_len = c->write_len = 0;
	if (walk_table(vq, c, (const uint8_t *)vq->desc, vq->size, head, false))
		return -1;
	vq->last_avail++;
	return 1;
}

int virtq_pop(struct virtq *vq, struct virtq_chain *chain)
{
	int ret;

	if (vq->broken)
		return -1;
	if (!vq->enabled)
		return 0;
	ret = take_chain(vq, chain);
	if (ret < 0)
		vq->broken = true;
	return ret;
}

/* ---- returning chains and notifications ---- */

void virtq_push(struct virtq *vq, uint16_t head, uint32_t written)
{
	struct virtq_used_elem *e;

	if (!vq->enabled)
		return;
	e = &vq->used_ring[vq->used & (vq->size - 1)];
	__atomic_store_n(&e->id, head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, written, __ATOMIC_RELAXED);
	vq->used++;
	/* Release: the element and the buffer contents are visible before the index. */
	__atomic_store_n(vq->used_idx, vq->used, __ATOMIC_RELEASE);
}

bool virtq_needs_interrupt(struct virtq *vq)
{
	const uint16_t old = vq->signalled_used, new = vq->used;
	const bool valid = vq->signalled_valid;
	uint16_t event;

	if (!vq->enabled)
		return false;
	/* Full barrier: our used index store must be visible before we read the driver's wish. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->signalled_used = new;
	vq->signalled_valid = true;
	if (!vq->event_idx)
		return !(__atomic_load_n(vq->avail_flags, __ATOMIC_RELAXED) &
			 VIRTQ_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	event = __atomic_load_n(vq->used_event, __ATOMIC_RELAXED);
	/* vring_need_event(): did used move past used_event since the last interrupt? */
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

void virtq_set_notify(struct virtq *vq, bool enable)
{
	if (!vq->enabled)
		return;
	if (vq->event_idx) {
		if (enable)
			__atomic_store_n(vq->avail_event, vq->last_avail, __ATOMIC_RELAXED);
	} else if (enable) {
		*vq->used_flags &= (uint16_t)~VIRTQ_USED_F_NO_NOTIFY;
	} else {
		*vq->used_flags |= VIRTQ_USED_F_NO_NOTIFY;
	}
	/* Full barrier: the driver must see the change before we look at avail idx again. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool virtq_has_work(struct virtq *vq)
{
	if (!vq->enabled || vq->broken)
		return false;
	/* Acquire: pairs with the driver's release of avail idx, as in virtq_pop(). */
	return __atomic_load_n(vq->avail_idx, __ATOMIC_ACQUIRE) != vq->last_avail;
}
