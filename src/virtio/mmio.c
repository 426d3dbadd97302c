/*
 * The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2): registers,
 * feature negotiation and device status on the vCPU thread; queue
 * notifications and interrupts through eventfds, which KVM signals and
 * consumes itself (ioeventfd, irqfd) so the vCPU never runs device I/O.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "spry/log.h"
#include "spry/util.h"
#include "spry/virtio.h"
#include "spry/vm.h"

#define MMIO_MAGIC		0x74726976	/* "virt" */
#define MMIO_VERSION		2
#define MMIO_VENDOR		0x59525053	/* "SPRY" */

enum {
	REG_MAGIC = 0x000, REG_VERSION = 0x004, REG_DEVICE_ID = 0x008, REG_VENDOR_ID = 0x00c,
	REG_DEVICE_FEATURES = 0x010, REG_DEVICE_FEATURES_SEL = 0x014,
	REG_DRIVER_FEATURES = 0x020, REG_DRIVER_FEATURES_SEL = 0x024,
	REG_QUEUE_SEL = 0x030, REG_QUEUE_NUM_MAX = 0x034, REG_QUEUE_NUM = 0x038,
	REG_QUEUE_READY = 0x044, REG_QUEUE_NOTIFY = 0x050,
	REG_INTERRUPT_STATUS = 0x060, REG_INTERRUPT_ACK = 0x064, REG_STATUS = 0x070,
	REG_QUEUE_DESC_LOW = 0x080, REG_QUEUE_DESC_HIGH = 0x084,
	REG_QUEUE_DRIVER_LOW = 0x090, REG_QUEUE_DRIVER_HIGH = 0x094,
	REG_QUEUE_DEVICE_LOW = 0x0a0, REG_QUEUE_DEVICE_HIGH = 0x0a4,
	REG_SHM_LEN_LOW = 0x0b0, REG_SHM_LEN_HIGH = 0x0b4,
	REG_SHM_BASE_LOW = 0x0b8, REG_SHM_BASE_HIGH = 0x0bc,
	REG_CONFIG_GENERATION = 0x0fc, REG_CONFIG = 0x100,
};

struct mmio_transport {
	struct bus_device dev;
	struct virtio_dev vdev;
	unsigned int index;
	bool watching;		/* notification watches armed on the I/O thread */
	bool running;		/* I/O thread: between the driver's DRIVER_OK and reset */
};

/* I/O thread: only state that thread owns (running) or that is atomic (broken). */
static bool queue_usable(struct virtio_dev *d, unsigned int q)
{
	struct mmio_transport *t = container_of(d, struct mmio_transport, vdev);

	return t->running && !atomic_load(&d->broken) && q < d->ops->nqueues && d->vq[q].enabled;
}

static void notify_done(struct io_op *op, int res)
{
	struct virtio_queue_notify *n = (struct virtio_queue_notify *)op;
	uint64_t v;

	if (read(n->fd, &v, sizeof(v)) < 0)
		return;		/* spurious wake-up: nothing was written */
	if (queue_usable(n->dev, n->q))
		n->dev->ops->queue_notify(n->dev, n->q);
}

static void signal_interrupt(struct virtio_dev *d)
{
	uint64_t one = 1;

	if (d->irq_fd >= 0) {
		if (write(d->irq_fd, &one, sizeof(one)) < 0)
			spry_err("%s: irqfd: %s", d->ops->name, strerror(errno));
		return;
	}
	/* The interrupt is declared edge-triggered: every notification is a new edge. */
	vm_irq_line(d->vm, d->gsi, 1);
	vm_irq_line(d->vm, d->gsi, 0);
}

void virtio_notify_used(struct virtio_dev *d, unsigned int q)
{
	if (!virtq_needs_interrupt(&d->vq[q]))
		return;
	atomic_fetch_or(&d->isr, VIRTIO_ISR_QUEUE);
	signal_interrupt(d);
}

void virtio_device_error(struct virtio_dev *d, unsigned int q, const char *why)
{
	if (atomic_load(&d->broken))
		return;
	/* The cause is in ISR before NEEDS_RESET shows in the status register. */
	atomic_fetch_or(&d->isr, VIRTIO_ISR_CONFIG);
	atomic_store(&d->broken, true);
	if (!d->error_logged) {
		spry_err("%s: queue %u: %s; device needs reset", d->ops->name, q,
			 why ? why : d->vq[q].error);
		d->error_logged = true;
	}
	signal_interrupt(d);
}

/* ---- work handed to the I/O thread ---- */

static void do_start(void *arg)
{
	struct mmio_transport *t = arg;
	struct virtio_dev *d = &t->vdev;

	if (!t->watching) {
		for (unsigned int q = 0; q < d->ops->nqueues; q++)
			io_loop_watch(d->loop, d->notify[q].index, &d->notify[q].op);
		t->watching = true;
	}
	t->running = true;
	d->ops->start(d);
}

static void do_reset(void *arg)
{
	struct mmio_transport *t = arg;
	struct virtio_dev *d = &t->vdev;

	t->running = false;
	d->ops->reset(d);
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		virtq_reset(&d->vq[q]);
	atomic_store(&d->isr, 0);
	atomic_store(&d->broken, false);
	d->error_logged = false;
}

struct enable_call {
	struct virtio_dev *d;
	struct virtq *vq;
	int ret;
};

static void do_disable_queue(void *arg)
{
	struct enable_call *c = arg;

	virtq_reset(c->vq);
}

static void do_enable_queue(void *arg)
{
	struct enable_call *c = arg;

	c->vq->event_idx = virtio_has_feature(c->d, VIRTIO_F_EVENT_IDX);
	c->vq->indirect = virtio_has_feature(c->d, VIRTIO_F_INDIRECT_DESC);
	c->ret = virtq_enable(c->vq, c->d->mem, c->d->ops->queue_max);
}

/* ---- registers ---- */

static uint64_t offered_features(const struct virtio_dev *d)
{
	return d->ops->features | (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_EVENT_IDX) |
	       (1ULL << VIRTIO_F_INDIRECT_DESC);
}

static struct virtq *selected_queue(struct virtio_dev *d)
{
	return d->queue_sel < d->ops->nqueues ? &d->vq[d->queue_sel] : NULL;
}

static uint32_t read_reg(struct virtio_dev *d, uint64_t off)
{
	struct virtq *vq = selected_queue(d);

	switch (off) {
	case REG_MAGIC: return MMIO_MAGIC;
	case REG_VERSION: return MMIO_VERSION;
	case REG_DEVICE_ID: return d->ops->device_id;
	case REG_VENDOR_ID: return MMIO_VENDOR;
	case REG_DEVICE_FEATURES:
		return d->device_features_sel < 2 ?
		       (uint32_t)(offered_features(d) >> (32 * d->device_features_sel)) : 0;
	case REG_QUEUE_NUM_MAX: return vq ? d->ops->queue_max : 0;
	case REG_QUEUE_READY: return vq && vq->enabled;
	case REG_INTERRUPT_STATUS: return atomic_load(&d->isr);
	case REG_STATUS:
		return d->status | (atomic_load(&d->broken) ? VIRTIO_STATUS_NEEDS_RESET : 0);
	case REG_SHM_LEN_LOW: case REG_SHM_LEN_HIGH:
		return 0xffffffff;	/* no shared memory regions */
	case REG_CONFIG_GENERATION: return d->config_generation;
	default: return 0;
	}
}

static void set_addr_half(uint64_t *addr, bool high, uint32_t v)
{
	if (high)
		*addr = (*addr & 0xffffffffULL) | ((uint64_t)v << 32);
	else
		*addr = (*addr & ~0xffffffffULL) | v;
}

static void write_queue_ready(struct virtio_dev *d, struct virtq *vq, uint32_t v)
{
	struct enable_call call = { .d = d, .vq = vq };

	/* Writing 0 stops the queue (Linux reads it back and warns if it is still on). */
	if (v == 0) {
		if (vq->enabled)
			io_loop_call(d->loop, do_disable_queue, &call);
		return;
	}
	if (v != 1 || vq->enabled)
		return;
	io_loop_call(d->loop, do_enable_queue, &call);
	if (call.ret)
		spry_err("%s: queue %u: %s", d->ops->name, d->queue_sel, vq->error);
}

static void write_queue_reg(struct virtio_dev *d, uint64_t off, uint32_t v)
{
	struct virtq *vq = selected_queue(d);

	if (!vq)
		return;
	if (off == REG_QUEUE_READY) {
		write_queue_ready(d, vq, v);
		return;
	}
	/* A queue's layout is fixed while it is enabled (spec 4.2.2.2). */
	if (vq->enabled)
		return;
	switch (off) {
	case REG_QUEUE_NUM: vq->size = (uint16_t)(v > 0xffff ? 0 : v); break;
	case REG_QUEUE_DESC_LOW: case REG_QUEUE_DESC_HIGH:
		set_addr_half(&vq->desc_gpa, off == REG_QUEUE_DESC_HIGH, v);
		break;
	case REG_QUEUE_DRIVER_LOW: case REG_QUEUE_DRIVER_HIGH:
		set_addr_half(&vq->avail_gpa, off == REG_QUEUE_DRIVER_HIGH, v);
		break;
	case REG_QUEUE_DEVICE_LOW: case REG_QUEUE_DEVICE_HIGH:
		set_addr_half(&vq->used_gpa, off == REG_QUEUE_DEVICE_HIGH, v);
		break;
	}
}

static void write_status(struct mmio_transport *t, uint32_t v)
{
	struct virtio_dev *d = &t->vdev;
	uint32_t old = d->status;

	if (v == 0) {
		io_loop_call(d->loop, do_reset, t);
		/*
		 * Linux does not poll for the reset to complete, so it completes
		 * here: I/O from before it may still write guest memory the
		 * driver is about to reuse. Completions do not need this lock.
		 */
		while (d->ops->busy && d->ops->busy(d) && !vm_stopping(d->vm))
			nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
		d->status = 0;
		d->driver_features = 0;
		d->queue_sel = d->device_features_sel = d->driver_features_sel = 0;
		return;
	}
	/* FEATURES_OK sticks only for a subset of what we offer that includes VERSION_1. */
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
	    ((d->driver_features & ~offered_features(d)) ||
	     !virtio_has_feature(d, VIRTIO_F_VERSION_1)))
		v &= ~VIRTIO_STATUS_FEATURES_OK;
	d->status = v & ~VIRTIO_STATUS_NEEDS_RESET;
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		if (!(v & VIRTIO_STATUS_FEATURES_OK)) {
			d->status &= ~VIRTIO_STATUS_DRIVER_OK;
			return;
		}
		io_loop_call(d->loop, do_start, t);
	}
}

static void write_reg(struct mmio_transport *t, uint64_t off, uint32_t v)
{
	struct virtio_dev *d = &t->vdev;
	uint64_t one = 1;

	switch (off) {
	case REG_DEVICE_FEATURES_SEL: d->device_features_sel = v; break;
	case REG_DRIVER_FEATURES_SEL: d->driver_features_sel = v; break;
	case REG_DRIVER_FEATURES:
		/* Features are negotiated only before FEATURES_OK. */
		if (d->driver_features_sel < 2 && !(d->status & VIRTIO_STATUS_FEATURES_OK))
			set_addr_half(&d->driver_features, d->driver_features_sel == 1, v);
		break;
	case REG_QUEUE_SEL: d->queue_sel = v; break;
	case REG_QUEUE_NOTIFY:
		if (v < d->ops->nqueues && write(d->notify[v].fd, &one, sizeof(one)) < 0)
			spry_err("%s: notify eventfd: %s", d->ops->name, strerror(errno));
		break;
	case REG_INTERRUPT_ACK: atomic_fetch_and(&d->isr, ~v); break;
	case REG_STATUS: write_status(t, v); break;
	default: write_queue_reg(d, off, v); break;
	}
}

static void mmio_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct mmio_transport *t = opaque;
	struct virtio_dev *d = &t->vdev;
	uint32_t v;

	if (off >= REG_CONFIG) {
		if (off - REG_CONFIG + len <= d->ops->config_size)
			d->ops->config_read(d, (uint32_t)(off - REG_CONFIG), data, len);
		return;
	}
	if (len != 4 || off % 4)
		return;		/* registers are 32-bit; the bus filled in all ones */
	v = read_reg(d, off);
	memcpy(data, &v, sizeof(v));
}

static void mmio_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct mmio_transport *t = opaque;
	struct virtio_dev *d = &t->vdev;
	uint32_t v;

	if (off >= REG_CONFIG) {
		if (d->ops->config_write && off - REG_CONFIG + len <= d->ops->config_size)
			d->ops->config_write(d, (uint32_t)(off - REG_CONFIG), data, len);
		return;
	}
	if (len != 4 || off % 4)
		return;
	memcpy(&v, data, sizeof(v));
	write_reg(t, off, v);
}

static void free_transport(struct mmio_transport *t)
{
	struct virtio_dev *d = &t->vdev;

	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (d->notify[q].fd >= 0)
			close(d->notify[q].fd);
	if (d->irq_fd >= 0)
		close(d->irq_fd);
	free(t);
}

static void mmio_destroy(struct bus_device *dev)
{
	struct mmio_transport *t = (struct mmio_transport *)dev;

	if (t->vdev.ops->destroy)
		t->vdev.ops->destroy(&t->vdev);
	free_transport(t);
}

/* Eventfds for queue notifications and the interrupt, bound in KVM when it can. */
static int setup_eventfds(struct mmio_transport *t, uint64_t base)
{
	struct virtio_dev *d = &t->vdev;
	struct vm *vm = d->vm;

	for (unsigned int q = 0; q < d->ops->nqueues; q++) {
		struct virtio_queue_notify *n = &d->notify[q];

		n->op.done = notify_done;
		n->dev = d;
		n->q = q;
		n->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (n->fd < 0)
			return -errno;
		n->index = io_loop_add_file(d->loop, n->fd);
		if (n->index < 0)
			return n->index;
		if (vm->accel->ioeventfd &&
		    vm->accel->ioeventfd(vm, n->fd, base + REG_QUEUE_NOTIFY, q) < 0)
			return -errno;
	}
	if (vm->accel->irqfd) {
		d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->irq_fd < 0 || vm->accel->irqfd(vm, d->irq_fd, d->gsi) < 0)
			return -errno;
	}
	return 0;
}

struct virtio_dev *virtio_mmio_create(struct vm *vm, struct io_loop *loop, unsigned int index,
				      const struct virtio_dev_ops *ops, void *priv)
{
	uint64_t base = SPRY_VIRTIO_MMIO_BASE + index * SPRY_VIRTIO_MMIO_SIZE;
	struct mmio_transport *t;
	int err;

	if (index >= SPRY_VIRTIO_MMIO_MAX || ops->nqueues > VIRTIO_MAX_QUEUES ||
	    ops->queue_max > VIRTQ_MAX_SIZE) {
		spry_err("%s: no room for another virtio-mmio device", ops->name);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->index = index;
	t->vdev = (struct virtio_dev){
		.ops = ops, .priv = priv, .vm = vm, .loop = loop, .mem = &vm->mem,
		.gsi = SPRY_VIRTIO_MMIO_GSI + index, .irq_fd = -1,
	};
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->vdev.notify[q].fd = -1;
	t->dev = (struct bus_device){
		.name = ops->name, .base = base, .size = SPRY_VIRTIO_MMIO_SIZE, .opaque = t,
		.read = mmio_read, .write = mmio_write, .destroy = mmio_destroy,
	};
	err = setup_eventfds(t, base);
	if (err) {
		spry_err("%s: cannot set up notifications: %s", ops->name, strerror(-err));
		free_transport(t);
		return NULL;
	}
	if (bus_register(&vm->mmio, &t->dev)) {
		spry_err("%s: MMIO window 0x%llx is taken", ops->name, (unsigned long long)base);
		free_transport(t);
		return NULL;
	}
	return &t->vdev;
}
