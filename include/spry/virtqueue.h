/*
 * Split virtqueues (virtio 1.2, 2.7) from the device's side. This is the only
 * code that parses guest descriptors: it checks every rule the spec puts on
 * the driver, reads each descriptor once, and hands devices host iovecs that
 * lie inside guest RAM. A violation is reported, never acted on.
 */
#ifndef SPRY_VIRTQUEUE_H
#define SPRY_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "spry/memory.h"

#define VIRTQ_MAX_SIZE		256	/* the largest queue any spry device offers */

/* Descriptor flags and ring flags from the spec. */
#define VIRTQ_DESC_F_NEXT	1
#define VIRTQ_DESC_F_WRITE	2
#define VIRTQ_DESC_F_INDIRECT	4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/*
 * One queue. The transport fills size, addresses and features from the
 * driver's register writes, then calls virtq_enable(); after that the queue
 * belongs to the device's I/O thread.
 */
struct virtq {
	/* Set by the transport. */
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx;		/* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;		/* VIRTIO_F_INDIRECT_DESC negotiated */

	/* Set by virtq_enable(): host views of the rings, checked to lie in RAM. */
	const struct guest_memory *mem;
	struct virtq_desc *desc;
	volatile uint16_t *avail_flags, *avail_idx, *avail_ring, *used_event;
	volatile uint16_t *used_flags, *used_idx, *avail_event;
	struct virtq_used_elem *used_ring;
	bool enabled;
	bool broken;		/* the driver broke a rule: virtq_pop() fails until reset */

	uint16_t last_avail;	/* next avail entry to take */
	uint16_t used;		/* our used index, published by virtq_push() */
	uint16_t signalled_used;	/* used index at the last interrupt (event idx) */
	bool signalled_valid;

	char error[128];	/* why the last call failed; "" if none */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* A descriptor chain as the device sees it: readable iovecs first, then writable ones. */
struct virtq_chain {
	uint16_t head;
	unsigned int nread, nwrite;	/* iov[0..nread) readable, then nwrite writable */
	uint64_t read_len, write_len;
	struct iovec iov[VIRTQ_MAX_SIZE];
};

/*
 * Check the queue's size and ring addresses (power-of-two size up to
 * @max_size, ring alignment, every ring byte inside one RAM region) and map
 * the rings. 0, or -1 with the reason in vq->error.
 */
int virtq_enable(struct virtq *vq, const struct guest_memory *mem, uint16_t max_size);
/* Forget everything (device reset). */
void virtq_reset(struct virtq *vq);

/*
 * Take the next available chain. Returns 1 with @chain filled, 0 when the
 * driver has made nothing available, or -1 when the driver broke a rule
 * (reason in vq->error): the device must then set DEVICE_NEEDS_RESET and use
 * the queue no more.
 */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain);

/* Return chain @head with @written bytes written into its writable part. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t written);

/*
 * After one or more virtq_push(): does the driver want an interrupt now?
 * (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX.)
 */
bool virtq_needs_interrupt(struct virtq *vq);

/*
 * Tell the driver whether we want notifications for new buffers (used flags,
 * or avail_event with EVENT_IDX). After enabling, check virtq_has_work()
 * again: the driver may have added buffers before seeing the change.
 */
void virtq_set_notify(struct virtq *vq, bool enable);
bool virtq_has_work(struct virtq *vq);

#endif
