/*
 * The guest library's polling virtio-mmio driver (see virtio.h). Relies on
 * identity paging (guest virtual = physical) and on x86 ordering: only a
 * store followed by a load needs a full barrier.
 */
#include "virtio.h"

#define barrier()	asm volatile("" : : : "memory")
#define mb()		asm volatile("lock addl $0, -4(%%rsp)" : : : "memory", "cc")

extern char __bss_end[];

static uint64_t arena_next;

/* ---- command line ---- */

static const char *cmdline_find(const char *key)
{
	size_t klen = 0;
	const char *p, *line = boot_cmdline();

	while (key[klen])
		klen++;
	for (p = line; *p; p++)
		if ((p == line || p[-1] == ' ') && !strncmp(p, key, klen) && p[klen] == '=')
			return p + klen + 1;
	return NULL;
}

bool cmdline_u64(const char *key, uint64_t *value)
{
	const char *p = cmdline_find(key);
	unsigned int base = 10;

	if (!p)
		return false;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	*value = 0;
	for (;; p++) {
		unsigned int digit;

		if (*p >= '0' && *p <= '9')
			digit = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			digit = *p - 'a' + 10;
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			digit = *p - 'A' + 10;
		else
			break;
		*value = *value * base + digit;
	}
	return true;
}

bool cmdline_str(const char *key, char *buf, size_t size)
{
	const char *p = cmdline_find(key);
	size_t n = 0;

	if (!p || !size)
		return false;
	while (p[n] && p[n] != ' ' && n + 1 < size) {
		buf[n] = p[n];
		n++;
	}
	buf[n] = '\0';
	return true;
}

/* ---- memory ---- */

void *virtio_alloc_raw(size_t size, size_t align)
{
	uint64_t p;

	if (!arena_next) {
		arena_next = ((uint64_t)__bss_end + 0xfffff) & ~0xfffffULL;
		if (arena_next < 0x400000)
			arena_next = 0x400000;	/* above anything a loader put near the payload */
	}
	p = (arena_next + align - 1) & ~(uint64_t)(align - 1);
	arena_next = p + size;
	return (void *)p;
}

void *virtio_alloc(size_t size, size_t align)
{
	void *p = virtio_alloc_raw(size, align);
	void *d = p;
	size_t n = size;

	/* One instruction, however slowly ring 0 is emulated. */
	asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(0) : "memory");
	return p;
}

/* ---- time ---- */

static uint64_t tsc_ms;

uint64_t tsc_per_ms(void)
{
	if (!tsc_ms) {
		/*
		 * One 50 ms countdown of PIT channel 0 in mode 0, polled through
		 * read-back: restarting it every millisecond (pit_delay_ms()) would
		 * add each restart's slow emulated port exits to every millisecond.
		 */
		uint16_t count = PIT_HZ / 20;
		uint64_t t0;

		outb(SPRY_PORT_PIT + 3, 0x30);		/* channel 0, lo/hi, mode 0 */
		outb(SPRY_PORT_PIT, count & 0xff);
		t0 = rdtsc();
		outb(SPRY_PORT_PIT, count >> 8);	/* counting starts here */
		do
			outb(SPRY_PORT_PIT + 3, 0xe2);	/* read back channel 0 status */
		while (!(inb(SPRY_PORT_PIT) & 0x80));	/* OUT goes high at zero */
		tsc_ms = (rdtsc() - t0) / 50;
		if (!tsc_ms)
			tsc_ms = 1;
	}
	return tsc_ms;
}

static uint64_t timeout_ticks(void)
{
	static uint64_t ticks = 1;	/* 1: not computed yet; 0: no timeout */

	if (ticks == 1) {
		uint64_t ms = 10000;

		cmdline_u64("virtio_timeout_ms", &ms);
		ticks = ms * tsc_per_ms();
	}
	return ticks;
}

/* ---- registers ---- */

uint32_t virtio_read32(const struct vdev *d, uint32_t reg)
{
	return mmio_read32(d->base + reg);
}

void virtio_write32(const struct vdev *d, uint32_t reg, uint32_t v)
{
	mmio_write32(d->base + reg, v);
}

uint8_t virtio_cfg8(const struct vdev *d, uint32_t off)
{
	return *(volatile uint8_t *)(d->base + VIRTIO_MMIO_CONFIG + off);
}

uint32_t virtio_cfg32(const struct vdev *d, uint32_t off)
{
	return mmio_read32(d->base + VIRTIO_MMIO_CONFIG + off);
}

uint64_t virtio_cfg64(const struct vdev *d, uint32_t off)
{
	uint32_t gen, lo, hi;

	do {
		gen = virtio_read32(d, VIRTIO_MMIO_CONFIG_GENERATION);
		lo = virtio_cfg32(d, off);
		hi = virtio_cfg32(d, off + 4);
	} while (gen != virtio_read32(d, VIRTIO_MMIO_CONFIG_GENERATION));
	return (uint64_t)hi << 32 | lo;
}

uint32_t virtio_isr_ack(const struct vdev *d)
{
	uint32_t isr = virtio_read32(d, VIRTIO_MMIO_INTERRUPT_STATUS);

	if (isr)
		virtio_write32(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	return isr;
}

uint32_t virtio_wait_isr(const struct vdev *d, uint32_t bits)
{
	uint64_t t0 = rdtsc(), limit = timeout_ticks();
	uint32_t isr;

	while (!((isr = virtio_isr_ack(d)) & bits))
		if (limit && rdtsc() - t0 > limit)
			return isr;
	return isr;
}

/* ---- device set-up ---- */

int virtio_find(struct vdev *d, uint32_t device_id, unsigned int nth)
{
	uint64_t base = SPRY_VIRTIO_MMIO_BASE, step = SPRY_VIRTIO_MMIO_SIZE;
	uint64_t count = SPRY_VIRTIO_MMIO_MAX;

	cmdline_u64("virtio_base", &base);
	cmdline_u64("virtio_step", &step);
	cmdline_u64("virtio_count", &count);
	for (uint64_t i = 0; i < count; i++) {
		uint64_t w = base + i * step;

		if (mmio_read32(w + VIRTIO_MMIO_MAGIC) != VIRTIO_MAGIC_VALUE)
			continue;
		if (mmio_read32(w + VIRTIO_MMIO_DEVICE_ID) != device_id)
			continue;
		if (nth--)
			continue;
		memset(d, 0, sizeof(*d));
		d->base = w;
		d->window = i;
		d->device_id = device_id;
		if (mmio_read32(w + VIRTIO_MMIO_VERSION) != 2) {
			cprintf("virtio: window %lu (%lx): version %u, expected 2\n", i, w,
				mmio_read32(w + VIRTIO_MMIO_VERSION));
			return -1;
		}
		cprintf("virtio: device %u in window %lu at %lx\n", device_id, i, w);
		return 0;
	}
	cprintf("virtio: no device %u (#%u) in %lu windows from %lx, step %lx\n",
		device_id, nth, count, base, step);
	return -1;
}

int virtio_init(struct vdev *d, uint64_t wanted)
{
	uint32_t status;

	uint64_t t0, limit = timeout_ticks();

	/* A reset may complete asynchronously: wait for status to read 0. */
	virtio_write32(d, VIRTIO_MMIO_STATUS, 0);
	t0 = rdtsc();
	while ((status = virtio_read32(d, VIRTIO_MMIO_STATUS)) != 0) {
		if (limit && rdtsc() - t0 > limit) {
			cprintf("virtio: status still reads %x after reset\n", status);
			return -1;
		}
	}
	virtio_write32(d, VIRTIO_MMIO_STATUS, VIRTIO_S_ACKNOWLEDGE);
	virtio_write32(d, VIRTIO_MMIO_STATUS, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);

	virtio_write32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	d->offered = (uint64_t)virtio_read32(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	virtio_write32(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	d->offered |= virtio_read32(d, VIRTIO_MMIO_DEVICE_FEATURES);
	cprintf("virtio: device features %lx\n", d->offered);
	if (!(d->offered & VIRTIO_F(VIRTIO_F_VERSION_1))) {
		cprintf("virtio: VERSION_1 not offered\n");
		goto failed;
	}
	d->features = d->offered & (wanted | VIRTIO_F(VIRTIO_F_VERSION_1));

	virtio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	virtio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES, d->features >> 32);
	virtio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	virtio_write32(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
	virtio_write32(d, VIRTIO_MMIO_STATUS,
		       VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
	status = virtio_read32(d, VIRTIO_MMIO_STATUS);
	if (!(status & VIRTIO_S_FEATURES_OK)) {
		cprintf("virtio: FEATURES_OK did not stick (status %x) for features %lx\n",
			status, d->features);
		goto failed;
	}
	cprintf("virtio: accepted features %lx\n", d->features);
	return 0;
failed:
	virtio_write32(d, VIRTIO_MMIO_STATUS, VIRTIO_S_FAILED);
	return -1;
}

int virtio_queue_setup(struct vdev *d, unsigned int q, uint16_t size)
{
	struct vq *vq = &d->vq[q];
	uint32_t max;
	uint64_t desc, avail, used;

	if (q >= VQ_MAX_QUEUES)
		return -1;
	virtio_write32(d, VIRTIO_MMIO_QUEUE_SEL, q);
	if (virtio_read32(d, VIRTIO_MMIO_QUEUE_READY)) {
		cprintf("virtio: queue %u is ready before set-up\n", q);
		return -1;
	}
	max = virtio_read32(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (!max) {
		cprintf("virtio: queue %u does not exist\n", q);
		return -1;
	}
	while (size > max)
		size >>= 1;
	if (!size || (size & (size - 1))) {
		cprintf("virtio: queue %u: no usable size (max %u)\n", q, max);
		return -1;
	}

	/* Alignment: descriptors 16, avail 2, used 4; each gets its own pages. */
	desc = (uint64_t)virtio_alloc(16u * size, 4096);
	avail = (uint64_t)virtio_alloc(6 + 2u * size, 4096);
	used = (uint64_t)virtio_alloc(6 + 8u * size, 4096);

	memset(vq, 0, sizeof(*vq));
	vq->dev = d;
	vq->index = q;
	vq->size = size;
	vq->desc = (volatile struct vq_desc *)desc;
	vq->avail = (volatile struct vq_avail *)avail;
	vq->used = (volatile struct vq_used *)used;
	for (uint16_t i = 0; i < size; i++)
		vq->desc[i].next = i + 1;
	vq->num_free = size;

	virtio_write32(d, VIRTIO_MMIO_QUEUE_NUM, size);
	virtio_write32(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	virtio_write32(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, desc >> 32);
	virtio_write32(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
	virtio_write32(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, avail >> 32);
	virtio_write32(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
	virtio_write32(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, used >> 32);
	virtio_write32(d, VIRTIO_MMIO_QUEUE_READY, 1);
	if (virtio_read32(d, VIRTIO_MMIO_QUEUE_READY) != 1) {
		cprintf("virtio: queue %u: QueueReady did not stick\n", q);
		return -1;
	}
	return 0;
}

int virtio_driver_ok(struct vdev *d)
{
	uint32_t status;

	virtio_write32(d, VIRTIO_MMIO_STATUS, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER |
		       VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
	status = virtio_read32(d, VIRTIO_MMIO_STATUS);
	if (status & (VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED) ||
	    !(status & VIRTIO_S_DRIVER_OK)) {
		cprintf("virtio: status %x after DRIVER_OK\n", status);
		return -1;
	}
	return 0;
}

/* ---- queues ---- */

static void fill_desc(volatile struct vq_desc *desc, const struct vbuf *b, uint16_t flags,
		      uint16_t next)
{
	desc->addr = (uint64_t)b->addr;
	desc->len = b->len;
	desc->flags = flags | (b->write ? VQ_DESC_F_WRITE : 0);
	desc->next = next;
}

static void publish(struct vq *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_shadow & (vq->size - 1)] = head;
	vq->avail_shadow++;
}

int vq_add(struct vq *vq, const struct vbuf *bufs, unsigned int n)
{
	uint16_t head = vq->free_head, id = head;

	if (!n || n > vq->num_free)
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		uint16_t next = vq->desc[id].next;

		fill_desc(&vq->desc[id], &bufs[i], i + 1 < n ? VQ_DESC_F_NEXT : 0,
			  i + 1 < n ? next : 0);
		if (i + 1 == n)
			vq->free_head = next;
		id = next;
	}
	vq->num_free -= n;
	publish(vq, head);
	return head;
}

int vq_add_indirect(struct vq *vq, struct vq_desc *table, const struct vbuf *bufs,
		    unsigned int n)
{
	uint16_t head = vq->free_head;
	struct vbuf ind = { table, n * sizeof(*table), false };

	if (!n || !vq->num_free)
		return -1;
	for (unsigned int i = 0; i < n; i++)
		fill_desc(&table[i], &bufs[i], i + 1 < n ? VQ_DESC_F_NEXT : 0,
			  i + 1 < n ? i + 1 : 0);
	vq->free_head = vq->desc[head].next;
	fill_desc(&vq->desc[head], &ind, VQ_DESC_F_INDIRECT, 0);
	vq->num_free--;
	publish(vq, head);
	return head;
}

void vq_kick(struct vq *vq)
{
	uint16_t new = vq->avail_shadow, old = vq->kicked;
	bool notify;

	barrier();			/* descriptors and ring entries before the index */
	vq->avail->idx = new;
	mb();				/* the index before reading the device's wishes */
	if (vq->dev->features & VIRTIO_F(VIRTIO_F_EVENT_IDX)) {
		uint16_t event = *(volatile uint16_t *)((uint64_t)vq->used + 4 + 8u * vq->size);

		notify = (uint16_t)(new - event - 1) < (uint16_t)(new - old);
	} else {
		notify = !(vq->used->flags & VQ_USED_F_NO_NOTIFY);
	}
	vq->kicked = new;
	if (notify) {
		virtio_write32(vq->dev, VIRTIO_MMIO_QUEUE_NOTIFY, vq->index);
		vq->notifies++;
	}
}

int vq_poll(struct vq *vq, uint32_t *len)
{
	volatile struct vq_used_elem *e;
	uint16_t id, head;

	if (vq->used->idx == vq->last_used)
		return -1;
	barrier();			/* the index before the entry it covers */
	e = &vq->used->ring[vq->last_used & (vq->size - 1)];
	head = (uint16_t)e->id;
	if (len)
		*len = e->len;
	vq->last_used++;
	if (head >= vq->size) {
		cprintf("virtio: queue %u: used id %u out of range\n", vq->index, head);
		debug_exit(GUEST_FAIL);
	}
	/* Return the chain to the free list. */
	for (id = head; vq->desc[id].flags & VQ_DESC_F_NEXT; id = vq->desc[id].next)
		vq->num_free++;
	vq->num_free++;
	vq->desc[id].next = vq->free_head;
	vq->free_head = head;
	return head;
}

int vq_wait(struct vq *vq, uint32_t *len)
{
	uint64_t t0 = rdtsc(), limit = timeout_ticks();
	int head;

	while ((head = vq_poll(vq, len)) < 0) {
		asm volatile("pause");
		if (limit && rdtsc() - t0 > limit) {
			cprintf("virtio: queue %u: no completion within the timeout "
				"(avail %u, used %u, status %x)\n", vq->index, vq->avail_shadow,
				vq->used->idx, virtio_read32(vq->dev, VIRTIO_MMIO_STATUS));
			debug_exit(GUEST_FAIL);
		}
	}
	return head;
}

void vq_disable_interrupts(struct vq *vq)
{
	vq->avail->flags = VQ_AVAIL_F_NO_INTERRUPT;
	/* Already passed: the device interrupts again only after 64 Ki completions. */
	vq->avail->ring[vq->size] = vq->last_used - 1;
}
