/*
 * Virtio devices and their transport. A device model implements
 * virtio_dev_ops and runs on the I/O thread; the transport (virtio-mmio)
 * owns the registers, feature negotiation and status, hands queue
 * notifications to the I/O thread and raises interrupts for the device.
 */
#ifndef SPRY_VIRTIO_H
#define SPRY_VIRTIO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "spry/io_loop.h"
#include "spry/virtqueue.h"

struct vm;

#define VIRTIO_MAX_QUEUES	4

/* Device status bits (virtio 1.2, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	1
#define VIRTIO_STATUS_DRIVER		2
#define VIRTIO_STATUS_DRIVER_OK		4
#define VIRTIO_STATUS_FEATURES_OK	8
#define VIRTIO_STATUS_NEEDS_RESET	64
#define VIRTIO_STATUS_FAILED		128

/* Interrupt status bits. */
#define VIRTIO_ISR_QUEUE	1
#define VIRTIO_ISR_CONFIG	2

/* Transport feature bits every spry device offers. */
#define VIRTIO_F_INDIRECT_DESC	28
#define VIRTIO_F_EVENT_IDX	29
#define VIRTIO_F_VERSION_1	32

/* Device IDs. */
#define VIRTIO_ID_BLOCK		2
#define VIRTIO_ID_CONSOLE	3
#define VIRTIO_ID_RNG		4

struct virtio_dev;

struct virtio_dev_ops {
	const char *name;		/* "virtio-blk", for messages */
	uint32_t device_id;
	unsigned int nqueues;
	uint16_t queue_max;		/* at most VIRTQ_MAX_SIZE */
	uint64_t features;		/* device-specific feature bits offered */
	uint32_t config_size;
	/* vCPU thread, under the transport lock; off + len <= config_size. */
	void (*config_read)(struct virtio_dev *d, uint32_t off, void *data, unsigned int len);
	void (*config_write)(struct virtio_dev *d, uint32_t off, const void *data,
			     unsigned int len);	/* may be NULL: config is read-only */
	/* I/O thread: the driver set DRIVER_OK; every queue it enabled is usable. */
	void (*start)(struct virtio_dev *d);
	/* I/O thread: the driver notified queue @q (or a notification is due). */
	void (*queue_notify)(struct virtio_dev *d, unsigned int q);
	/*
	 * I/O thread: device reset. Stop using the queues; requests still in
	 * flight must finish (their results are dropped) before the next start().
	 */
	void (*reset)(struct virtio_dev *d);
	/*
	 * Any thread, may be NULL: is I/O from before a reset still running (a
	 * read the kernel may yet write into guest memory)? The transport does
	 * not finish the driver's reset until this is false.
	 */
	bool (*busy)(const struct virtio_dev *d);
	/* Free the model's state and close its backend; the I/O loop has stopped. */
	void (*destroy)(struct virtio_dev *d);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *priv;			/* the device model's state */
	struct vm *vm;
	struct io_loop *loop;
	const struct guest_memory *mem;
	unsigned int gsi;

	/* Transport state, written by the vCPU thread under the bus lock. */
	uint32_t status;
	uint64_t driver_features;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint32_t config_generation;
	struct virtq vq[VIRTIO_MAX_QUEUES];

	atomic_uint isr;		/* VIRTIO_ISR_* pending, set by the I/O thread */
	atomic_bool broken;		/* NEEDS_RESET raised; no queue is used until reset */
	bool error_logged;

	struct virtio_queue_notify {
		struct io_op op;
		struct virtio_dev *dev;
		unsigned int q;
		int fd;			/* eventfd: signalled by KVM (ioeventfd) or by us */
		int index;		/* its io_loop fixed-file index */
	} notify[VIRTIO_MAX_QUEUES];
	int irq_fd;			/* eventfd bound with irqfd, or -1: use vm_irq_line */
};

/* Did the driver accept feature @bit? */
static inline bool virtio_has_feature(const struct virtio_dev *d, unsigned int bit)
{
	return d->driver_features & (1ULL << bit);
}

/* I/O thread: after virtq_push()es on queue @q, interrupt the driver if it wants one. */
void virtio_notify_used(struct virtio_dev *d, unsigned int q);

/*
 * I/O thread: the driver broke a rule on queue @q (reason in the queue's
 * error, or @why when not NULL): set DEVICE_NEEDS_RESET, raise a config
 * interrupt, log once, and use no queue until the driver resets the device.
 */
void virtio_device_error(struct virtio_dev *d, unsigned int q, const char *why);

/*
 * Create a virtio-mmio device for @ops at window @index (base
 * SPRY_VIRTIO_MMIO_BASE + index * 4 KiB, GSI SPRY_VIRTIO_MMIO_GSI + index)
 * on @vm's MMIO bus, with its notifications on @loop. Must be called before
 * io_loop_start(). NULL with a message printed on failure; @priv then still
 * belongs to the caller. On success the MMIO bus owns the device and calls
 * ops->destroy() when it goes away.
 */
struct virtio_dev *virtio_mmio_create(struct vm *vm, struct io_loop *loop, unsigned int index,
				      const struct virtio_dev_ops *ops, void *priv);

#endif
