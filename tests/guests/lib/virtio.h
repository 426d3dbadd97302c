/*
 * A small polling virtio-mmio (version 2, modern only) driver for guest
 * payloads: probe, feature negotiation, split virtqueues, submit and poll.
 * No interrupts: completions are found by polling the used ring.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "guest.h"

/* virtio-mmio registers (virtio 1.2, 4.2.2). */
#define VIRTIO_MMIO_MAGIC		0x000	/* "virt" = 0x74726976 */
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_VENDOR_ID		0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL	0x014
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL	0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

#define VIRTIO_MAGIC_VALUE		0x74726976

#define VIRTIO_S_ACKNOWLEDGE		1
#define VIRTIO_S_DRIVER			2
#define VIRTIO_S_DRIVER_OK		4
#define VIRTIO_S_FEATURES_OK		8
#define VIRTIO_S_NEEDS_RESET		64
#define VIRTIO_S_FAILED			128

#define VIRTIO_F(bit)			(1ULL << (bit))
#define VIRTIO_F_INDIRECT_DESC		28
#define VIRTIO_F_EVENT_IDX		29
#define VIRTIO_F_VERSION_1		32

#define VIRTIO_ID_BLOCK			2
#define VIRTIO_ID_CONSOLE		3
#define VIRTIO_ID_RNG			4

#define VQ_DESC_F_NEXT			1
#define VQ_DESC_F_WRITE			2
#define VQ_DESC_F_INDIRECT		4
#define VQ_AVAIL_F_NO_INTERRUPT		1
#define VQ_USED_F_NO_NOTIFY		1

#define VQ_MAX_QUEUES			4

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* then used_event */
};

struct vq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vq_used {
	uint16_t flags;
	uint16_t idx;
	struct vq_used_elem ring[];	/* then avail_event */
};

struct vdev;

struct vq {
	struct vdev *dev;
	uint16_t index, size;
	volatile struct vq_desc *desc;
	volatile struct vq_avail *avail;
	volatile struct vq_used *used;
	uint16_t free_head, num_free;
	uint16_t avail_shadow;	/* next avail idx, published by vq_kick() */
	uint16_t kicked;	/* avail idx at the last notification */
	uint16_t last_used;	/* next used entry to consume */
	uint64_t notifies;	/* QueueNotify writes made */
};

struct vdev {
	uint64_t base;		/* MMIO window */
	unsigned int window;	/* its number among the probed windows */
	uint32_t device_id;
	uint64_t offered;	/* device features */
	uint64_t features;	/* accepted */
	struct vq vq[VQ_MAX_QUEUES];
};

/* One buffer of a chain: device-readable unless @write. */
struct vbuf {
	const volatile void *addr;
	uint32_t len;
	bool write;
};

/* Command line: "KEY=N" (decimal or 0x hex) and "KEY=WORD" (up to a space). */
bool cmdline_u64(const char *key, uint64_t *value);
bool cmdline_str(const char *key, char *buf, size_t size);

/*
 * Guest RAM for rings and buffers from a bump allocator above the payload
 * (identity mapped). virtio_alloc() zeroes; virtio_alloc_raw() does not.
 */
void *virtio_alloc(size_t size, size_t align);
void *virtio_alloc_raw(size_t size, size_t align);

/* TSC ticks per millisecond, measured once against the PIT (ring 0, or IOPL 3). */
uint64_t tsc_per_ms(void);

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/*
 * Find the @nth (from 0) window holding device @device_id. The windows are
 * virtio_base=ADDR + i * virtio_step=STEP for i < virtio_count=N from the
 * command line, by default spry's (SPRY_VIRTIO_MMIO_BASE, 4 KiB, 8).
 * 0, or -1 with a message.
 */
int virtio_find(struct vdev *d, uint32_t device_id, unsigned int nth);

/*
 * Reset, ACKNOWLEDGE | DRIVER, accept @wanted & offered (VERSION_1 is
 * required and always wanted), FEATURES_OK and check that it stuck.
 * 0, or -1 with a message (the device is then marked FAILED).
 */
int virtio_init(struct vdev *d, uint64_t wanted);

/* Set up queue @q with min(@size, QueueNumMax) entries (a power of two). 0 or -1. */
int virtio_queue_setup(struct vdev *d, unsigned int q, uint16_t size);

/* DRIVER_OK; 0, or -1 when the device reports NEEDS_RESET or FAILED. */
int virtio_driver_ok(struct vdev *d);

static inline bool virtio_has(const struct vdev *d, unsigned int bit)
{
	return d->features & VIRTIO_F(bit);
}

uint32_t virtio_read32(const struct vdev *d, uint32_t reg);
void virtio_write32(const struct vdev *d, uint32_t reg, uint32_t v);
/* Device config space at @off, consistent across ConfigGeneration. */
uint8_t virtio_cfg8(const struct vdev *d, uint32_t off);
uint32_t virtio_cfg32(const struct vdev *d, uint32_t off);
uint64_t virtio_cfg64(const struct vdev *d, uint32_t off);

/* Read InterruptStatus and acknowledge what it showed; returns it. */
uint32_t virtio_isr_ack(const struct vdev *d);
/* Spin until InterruptStatus has any of @bits (bounded); returns it, acknowledged. */
uint32_t virtio_wait_isr(const struct vdev *d, uint32_t bits);

/*
 * Put a chain of @n buffers on the avail ring (not yet published): readable
 * ones first. Returns its head, or -1 when too few descriptors are free.
 */
int vq_add(struct vq *vq, const struct vbuf *bufs, unsigned int n);
/* The same through one INDIRECT descriptor pointing at @table (@n entries). */
int vq_add_indirect(struct vq *vq, struct vq_desc *table, const struct vbuf *bufs,
		    unsigned int n);
/* Publish what vq_add() put there and notify the device if it wants it. */
void vq_kick(struct vq *vq);
/* A completed chain's head (descriptors freed), @len its written bytes; -1 if none. */
int vq_poll(struct vq *vq, uint32_t *len);
/*
 * vq_poll() until a chain completes; after virtio_timeout_ms=MS (default
 * 10000; 0 = forever) prints a message and exits with GUEST_FAIL.
 */
int vq_wait(struct vq *vq, uint32_t *len);

/* Interrupt suppression for polling drivers (avail flags; used_event when EVENT_IDX). */
void vq_disable_interrupts(struct vq *vq);

#endif
